package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
)

// formatChoice holds the flags of 'signet sign' that choose the format.
type formatChoice struct {
	format         *string
	namespace      *string
	trustedComment *string
	armor          *bool          // pgp: ASCII-armored signatures
	annotations    annotationFlag // cosign: signed annotations, -a KEY=VALUE
	timestamp      *string        // authenticode: RFC 3161 time-stamp authority URL
}

func formatFlags(fs *flag.FlagSet) *formatChoice {
	f := &formatChoice{
		format:         fs.String("format", "raw", ""),
		namespace:      fs.String("namespace", "", ""),
		trustedComment: fs.String("trusted-comment", "", ""),
		armor:          fs.Bool("armor", false, ""),
		annotations:    annotationFlag{},
		timestamp:      fs.String("timestamp", "", ""),
	}
	fs.Var(f.annotations, "a", "")
	return f
}

// check refuses flags that do not apply to the format chosen.
func (f *formatChoice) check(pss bool) error {
	switch *f.format {
	case "raw", "ssh", "minisign", "pgp", "pgp-clearsign", "authenticode", "rpm", "deb", "cosign":
	case "dsse":
		return hintf("use 'signet attest --key NAME --subject FILE --predicate-type URI --predicate P.json'", "sign --format dsse: attestations are made with 'signet attest'")
	default:
		return hintf("use --format raw, ssh, minisign, pgp or pgp-clearsign, authenticode for Windows PE files, rpm or deb for packages, cosign for container images", "sign: unknown format %q", *f.format)
	}
	switch {
	case *f.format != "cosign" && len(f.annotations) > 0:
		return usagef("-a KEY=VALUE applies only to --format cosign")
	case *f.format == "ssh" && *f.namespace == "":
		return hintf("add --namespace git for git objects, or --namespace file for files", "sign --format ssh needs --namespace")
	case *f.format != "ssh" && *f.namespace != "":
		return usagef("--namespace applies only to --format ssh")
	case *f.format != "minisign" && *f.trustedComment != "":
		return usagef("--trusted-comment applies only to --format minisign")
	case *f.format != "raw" && pss:
		return usagef("--rsa-pss applies only to --format raw")
	case *f.format != "pgp" && *f.armor:
		return usagef("--armor applies only to --format pgp (clearsigned text is armored already)")
	case *f.format != "authenticode" && *f.timestamp != "":
		return usagef("--timestamp applies only to --format authenticode")
	}
	return nil
}

// suffix is the suffix of the signature files of the format: "" for
// formats that sign the file in place (rpm, deb, authenticode).
func (f *formatChoice) suffix() string {
	switch *f.format {
	case "rpm", "deb", "authenticode":
		return ""
	case "minisign":
		return ".minisig"
	case "pgp-clearsign":
		return ".asc"
	case "pgp":
		if *f.armor {
			return ".asc"
		}
	}
	return ".sig"
}

// sign signs files in the chosen format; their signature files end with
// suffix().
func (f *formatChoice) sign(env *cmdEnv, c *client.Client, key string, files []string, opts api.SignOptions) ([]client.FileSignature, error) {
	switch *f.format {
	case "ssh":
		return c.SignSSH(env.ctx, key, *f.namespace, files)
	case "minisign":
		return c.SignMinisign(env.ctx, key, files, *f.trustedComment)
	case "pgp":
		return c.SignFilesOpenPGP(env.ctx, key, files, *f.armor)
	case "rpm":
		return c.SignRPMs(env.ctx, key, files)
	case "deb":
		return c.SignDebs(env.ctx, key, files)
	case "pgp-clearsign":
		if len(files) != 1 {
			return nil, usagef("--format pgp-clearsign signs one text file at a time, got %d", len(files))
		}
		s, err := c.ClearsignFile(env.ctx, key, files[0])
		if err != nil {
			return nil, err
		}
		return []client.FileSignature{*s}, nil
	}
	return c.SignFiles(env.ctx, key, files, opts)
}

// publicKeyAs converts the PEM public key of k, here on the client, to
// the form another ecosystem reads.
func publicKeyAs(k *api.Key, format string) ([]byte, error) {
	switch format {
	case "pem":
		return []byte(k.PublicKey), nil
	case "ssh":
		return client.SSHPublicKey(k)
	case "minisign":
		return client.MinisignPublicKey(k)
	}
	return nil, hintf("use --format pem, ssh or minisign", "key public: unknown format %q", format)
}

// runAttest signs an in-toto statement about files as a DSSE envelope.
func runAttest(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("attest", flag.ContinueOnError)
	cf := clientFlags(fs)
	key := fs.String("key", "", "")
	predicateType := fs.String("predicate-type", "", "")
	predicateFile := fs.String("predicate", "", "")
	out := fs.String("o", "", "")
	pss := fs.Bool("rsa-pss", false, "")
	format := fs.String("format", "dsse", "")
	var subjects []string
	fs.Func("subject", "", func(s string) error { subjects = append(subjects, s); return nil })
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	subjects = append(subjects, pos...)
	switch {
	case *format != "dsse" && *format != "cosign":
		return hintf("use --format dsse for files (an envelope file) or --format cosign for container images (attached in the registry)", "attest: unknown format %q", *format)
	case *format == "cosign" && (*out != "" || *pss):
		return usagef("attest --format cosign attaches the attestation in the registry and signs as cosign does: it takes no -o or --rsa-pss")
	case *key == "":
		return usagef("attest needs --key NAME")
	case len(subjects) == 0:
		return usagef("attest needs at least one --subject FILE")
	case *predicateType == "":
		return hintf("for SLSA provenance: --predicate-type https://slsa.dev/provenance/v1", "attest needs --predicate-type URI")
	case *predicateFile == "":
		return usagef("attest needs --predicate FILE (a JSON object; '{}' for none)")
	}
	predicate, err := readPredicate(*predicateFile)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if *format == "cosign" {
		return attestImages(env, c, *key, subjects, *predicateType, predicate)
	}
	envelope, receipt, err := c.Attest(env.ctx, *key, subjects, *predicateType, predicate, api.SignOptions{RSAPSS: *pss})
	if err != nil {
		return err
	}
	name := *out
	if name == "" {
		name = subjects[0] + ".intoto.json"
	}
	if name == "-" {
		_, err := env.stdout.Write(envelope)
		return err
	}
	if err := os.WriteFile(name, envelope, 0o644); err != nil {
		return err
	}
	if err := writeReceipt(name+".receipt", receipt); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, name)
	return nil
}

// sshSignUsage is the usage of signet-ssh-sign, which git runs as its
// gpg.ssh.program.
const sshSignUsage = `signet-ssh-sign signs like 'ssh-keygen -Y sign' with a key held by a Signet
server, so that git signs commits and tags with it:

    git config gpg.format ssh
    git config gpg.ssh.program signet-ssh-sign
    git config user.signingkey "key::$(signet key public NAME --format ssh)"

Usage:
    signet-ssh-sign -Y sign -n NAMESPACE -f KEYFILE [-U] [-q] [FILE...]

KEYFILE holds the key's public key line, as 'signet key public NAME
--format ssh' prints it (comment "signet:NAME"), or just "signet:NAME".
Without FILE the message is read from standard input and the signature
written to standard output; otherwise each FILE's signature goes to
FILE.sig. The server and credentials come from SIGNET_SERVER,
SIGNET_CACERT, SIGNET_CLIENT_CERT, SIGNET_CLIENT_KEY or SIGNET_TOKEN. The
item is named SIGNET_ARTIFACT for the server's policy, or else the file's
name, "git-object" for git's temporary files, or "stdin".

Every other operation (-Y verify, -Y find-principals, -Y check-novalidate,
…) is handed to the real ssh-keygen ($SIGNET_SSH_KEYGEN, or ssh-keygen on
PATH), so git can verify with the same program.
`

// runSSHSign is signet-ssh-sign: 'ssh-keygen -Y sign' for server-held
// keys. It returns the exit code.
func runSSHSign(env *cmdEnv, args []string, stdin io.Reader) int {
	err := sshSign(env, args, stdin)
	if err == nil {
		return 0
	}
	fmt.Fprintf(env.stderr, "signet-ssh-sign: %v\n", err)
	var h *hintError
	if errors.As(err, &h) {
		fmt.Fprintf(env.stderr, "signet-ssh-sign: hint: %s\n", h.hint)
	}
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func sshSign(env *cmdEnv, args []string, stdin io.Reader) error {
	op := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-Y" {
			op = args[i+1]
			break
		}
	}
	if op != "sign" {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(env.stdout, sshSignUsage)
			return nil
		}
		return execSSHKeygen(args)
	}
	fs := flag.NewFlagSet("signet-ssh-sign", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("Y", "", "")
	ns := fs.String("n", "", "")
	keyFile := fs.String("f", "", "")
	fs.Bool("U", false, "") // key in an agent: ours is on a server
	quiet := fs.Bool("q", false, "")
	var hashErr error
	fs.Func("O", "", func(o string) error {
		if o != "hashalg=sha512" {
			hashErr = usagef("-O %s: only -O hashalg=sha512 is supported (Signet signs SHA-512 digests)", o)
		}
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return usagef("%v\n%s", err, sshSignUsage)
	}
	if hashErr != nil {
		return hashErr
	}
	if *ns == "" || *keyFile == "" {
		return usagef("-Y sign needs -n NAMESPACE and -f KEYFILE")
	}
	line, err := os.ReadFile(*keyFile)
	if err != nil {
		return hintf("set git's user.signingkey to \"key::$(signet key public NAME --format ssh)\"", "reading the signing key: %w", err)
	}
	if bytes.Contains(line, []byte("PRIVATE KEY")) {
		return hintf("set git's user.signingkey to \"key::$(signet key public NAME --format ssh)\"", "%s is a private key; signet-ssh-sign signs with keys held by the Signet server and needs the public key line", *keyFile)
	}
	c, err := client.New(client.FromEnv())
	if err != nil {
		return err
	}
	var key string
	if name, ok := strings.CutPrefix(strings.TrimSpace(string(line)), client.SSHKeyComment); ok && !strings.ContainsAny(name, " \t") {
		key = name
	} else {
		k, err := c.FindSSHKey(env.ctx, line)
		if err != nil {
			return err
		}
		key = k.Name
	}
	files := fs.Args()
	if len(files) == 0 {
		sig, err := c.SignSSHMessage(env.ctx, key, *ns, artifactName("stdin"), stdin)
		if err != nil {
			return err
		}
		_, err = env.stdout.Write(sig.Signature)
		return err
	}
	for _, file := range files {
		name := filepath.Base(file)
		if strings.HasPrefix(name, ".git_signing_buffer_tmp") {
			name = "git-object"
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		sig, err := c.SignSSHMessage(env.ctx, key, *ns, artifactName(name), f)
		f.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(file+".sig", sig.Signature, 0o644); err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(env.stderr, "Signed %s with Signet key %s; signature written to %s.sig\n", file, key, file)
		}
	}
	return nil
}

// artifactName is the name an item is signed under: $SIGNET_ARTIFACT if
// set, else def.
func artifactName(def string) string {
	if a := os.Getenv("SIGNET_ARTIFACT"); a != "" {
		return a
	}
	return def
}

// execSSHKeygen replaces this process with the real ssh-keygen, so that
// verification behaves exactly as ssh-keygen's own, exit status included.
func execSSHKeygen(args []string) error {
	path := os.Getenv("SIGNET_SSH_KEYGEN")
	if path == "" {
		var err error
		if path, err = exec.LookPath("ssh-keygen"); err != nil {
			return hintf("install openssh-client, or set SIGNET_SSH_KEYGEN", "ssh-keygen %s needs the real ssh-keygen: %w", strings.Join(args, " "), err)
		}
	}
	if self, err := os.Executable(); err == nil {
		a, _ := filepath.EvalSymlinks(path)
		b, _ := filepath.EvalSymlinks(self)
		if a != "" && a == b {
			return fmt.Errorf("ssh-keygen at %s is this program; set SIGNET_SSH_KEYGEN to the real ssh-keygen", path)
		}
	}
	err := syscall.Exec(path, append([]string{"ssh-keygen"}, args...), os.Environ())
	return fmt.Errorf("running %s: %w", path, err)
}
