package main

import (
	"crypto"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/format/raw"
)

// clientOptions are the flags every client command shares.
type clientOptions struct {
	cfg client.Config
}

func clientFlags(fs *flag.FlagSet) *clientOptions {
	o := &clientOptions{cfg: client.FromEnv()}
	fs.StringVar(&o.cfg.Server, "server", o.cfg.Server, "")
	fs.StringVar(&o.cfg.CACert, "cacert", o.cfg.CACert, "")
	fs.StringVar(&o.cfg.ClientCert, "cert", o.cfg.ClientCert, "")
	fs.StringVar(&o.cfg.ClientKey, "cert-key", o.cfg.ClientKey, "")
	fs.StringVar(&o.cfg.Token, "token", o.cfg.Token, "")
	fs.Func("retry-for", "", func(v string) (err error) {
		o.cfg.Retry.For, err = client.ParseRetryFor(v)
		return err
	})
	return o
}

func (o *clientOptions) client() (*client.Client, error) {
	if v := os.Getenv("SIGNET_RETRY_FOR"); v != "" && o.cfg.Retry.For == 0 {
		if _, err := client.ParseRetryFor(v); err != nil {
			return nil, fmt.Errorf("SIGNET_RETRY_FOR: %w", err)
		}
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		// A person is watching: say why nothing seems to happen.
		o.cfg.Retry.Waiting = func(server string, err error, wait time.Duration) {
			fmt.Fprintf(os.Stderr, "signet: %s: %v; retrying in %s\n", server, err, wait.Round(100*time.Millisecond))
		}
	}
	return client.New(o.cfg)
}

func runKey(env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("key needs a subcommand: create, list, public, cert, versions, rotate, revoke or transition")
	}
	switch args[0] {
	case "rotate", "revoke", "versions", "transition":
		return runKeyLifecycle(env, args[0], args[1:])
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("key "+sub, flag.ContinueOnError)
	cf := clientFlags(fs)
	typ := fs.String("type", "", "")
	usage := fs.String("usage", "", "")
	uid := fs.String("uid", "", "")
	pubFormat := fs.String("format", "pem", "")
	armor := fs.Bool("armor", false, "")
	certOpts := certFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		if len(pos) != 1 || *typ == "" {
			return usagef("usage: signet key create NAME --type TYPE [--usage USAGE] [--uid 'Name <email>']")
		}
		k, err := c.CreateKey(env.ctx, &api.CreateKeyRequest{Name: pos[0], Type: *typ, Usage: *usage, UID: *uid})
		if err != nil {
			return err
		}
		warnUnconfirmed(env, k)
		fmt.Fprintf(env.stdout, "created key %s (%s, usage %s) %s\n", k.Name, k.Type, k.Usage, k.Fingerprint)
		if k.OpenPGPFingerprint != "" {
			fmt.Fprintf(env.stdout, "OpenPGP fingerprint %s\n", k.OpenPGPFingerprint)
		}
	case "list":
		if len(pos) != 0 {
			return usagef("usage: signet key list")
		}
		keys, err := c.Keys(env.ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTYPE\tUSAGE\tCREATED\tFINGERPRINT")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.Type, k.Usage, k.Created.UTC().Format(time.RFC3339), k.Fingerprint)
		}
		return tw.Flush()
	case "public":
		if len(pos) != 1 {
			return usagef("usage: signet key public NAME [--format pem|ssh|minisign|openpgp|key-list] [--armor]")
		}
		if *pubFormat == "key-list" {
			return writeKeyList(env, c, pos[0])
		}
		if *pubFormat == "openpgp" {
			k, err := c.OpenPGPKey(env.ctx, pos[0])
			if err != nil {
				return err
			}
			out := k.Certificate
			if *armor {
				out = openpgp.Armor(out, "PGP PUBLIC KEY BLOCK")
			}
			_, err = env.stdout.Write(out)
			return err
		}
		if *armor {
			return usagef("--armor goes with --format openpgp")
		}
		k, err := c.Key(env.ctx, pos[0])
		if err != nil {
			return err
		}
		b, err := publicKeyAs(k, *pubFormat)
		if err != nil {
			return err
		}
		env.stdout.Write(b)
	case "cert":
		return runKeyCert(env, c, pos, certOpts)
	default:
		return usagef("unknown key subcommand %q: use create, list, public, cert, versions, rotate, revoke or transition", sub)
	}
	return nil
}

func runSign(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	cf := clientFlags(fs)
	key := fs.String("key", "", "")
	pss := fs.Bool("rsa-pss", false, "")
	out := fs.String("o", "", "")
	name := fs.String("name", "", "")
	ff := formatFlags(fs)
	bf := batchFlags(fs)
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := ff.check(*pss); err != nil {
		return err
	}
	if *ff.format == "cosign" {
		if *key == "" || len(files) == 0 || *out != "" {
			return usagef("usage: signet sign --format cosign --key NAME [-a KEY=VALUE]... REGISTRY/REPO(:TAG|@sha256:DIGEST)...")
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		return signImages(env, c, *key, files, ff.annotations)
	}
	if files, err = bf.files(env, files, os.Stdin); err != nil {
		return err
	}
	switch {
	case *key == "":
		return usagef("sign needs --key NAME")
	case len(files) == 0:
		return usagef("sign needs at least one FILE (or --files-from LIST)")
	case *out != "" && len(files) > 1:
		return usagef("-o names one signature file; it cannot be used with %d files", len(files))
	case *out != "" && (*ff.format == "rpm" || *ff.format == "deb"):
		return hintf("copy the package first to keep an unsigned one", "--format %s signs the package in place and takes no -o", *ff.format)
	}
	if err := nameFiles(env, files, *name); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if *ff.format == "authenticode" {
		return signAuthenticode(env, c, *key, files, *out, *ff.timestamp)
	}
	if client.CanSignBatch(*ff.format) {
		return bf.sign(env, c, *key, *ff.format, files, *out, api.SignOptions{RSAPSS: *pss, Namespace: *ff.namespace}, *ff.trustedComment)
	}
	if *bf.skipExisting {
		return usagef("--skip-existing applies to --format raw, ssh and minisign")
	}
	if suffix := ff.suffix(); suffix != "" && !*bf.force {
		k, err := c.Key(env.ctx, *key)
		if err != nil {
			return err
		}
		for _, f := range files {
			if !client.SignsIn(k, *ff.format) {
				break // the server refuses, and says why
			}
			name := f + suffix
			if *out != "" {
				name = *out
			}
			if err := client.CheckReplace(name, *key, *ff.format, nil); err != nil {
				return hintf("add --force to replace it, or write elsewhere with -o", "%w", err)
			}
		}
	}
	sigs, err := ff.sign(env, c, *key, files, api.SignOptions{RSAPSS: *pss})
	suffix := ff.suffix()
	if err != nil {
		return err
	}
	for _, s := range sigs {
		name := s.Path + suffix
		if *out != "" {
			name = *out
		}
		if suffix != "" { // else the signature is inside the file, already rewritten
			if err := os.WriteFile(name, s.Signature, 0o644); err != nil {
				return err
			}
		}
		if err := writeReceipt(name+".receipt", s.Receipt); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s\n", name)
	}
	return nil
}

// nameFiles checks that every file has an artifact name (its path,
// cleaned and relative to the working directory), or gives the one file
// the name given with --name.
func nameFiles(env *cmdEnv, files []string, name string) error {
	if name != "" {
		if len(files) != 1 {
			return usagef("--name names one file; it cannot be used with %d files", len(files))
		}
		if err := api.CheckArtifactName(name); err != nil {
			return usagef("--name: %v", err)
		}
		env.ctx = client.WithName(env.ctx, files[0], name)
		return nil
	}
	var bad []string
	for _, f := range files {
		if _, err := client.ArtifactName(f); err != nil {
			bad = append(bad, err.Error())
		}
	}
	switch {
	case len(bad) == 1:
		return hintf("a file is signed under its path relative to the working directory, which grants match and the audit log records: run signet from a directory above it, or name it with --name NAME", "%s", bad[0])
	case len(bad) > 1:
		return hintf("a file is signed under its path relative to the working directory, which grants match and the audit log records: run signet from a directory above them", "%d files have no name:\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	return nil
}

func runVerify(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	cf := clientFlags(fs)
	key := fs.String("key", "", "")
	pubFile := fs.String("public-key", "", "")
	pss := fs.Bool("rsa-pss", false, "")
	sigFile := fs.String("signature", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (*key == "") == (*pubFile == "") {
		return usagef("usage: signet verify (--key NAME | --public-key PEM) [--signature SIG] FILE")
	}
	file := pos[0]
	if *sigFile == "" {
		*sigFile = file + ".sig"
	}
	var pub crypto.PublicKey
	var k *api.Key
	label := *pubFile
	if *key != "" {
		c, err := cf.client()
		if err != nil {
			return err
		}
		if k, err = c.Key(env.ctx, *key); err != nil {
			return err
		}
		label = fmt.Sprintf("key %s (%s)", k.Name, k.Fingerprint)
	} else if pub, err = readPublicKey(*pubFile); err != nil {
		return err
	}
	sig, err := os.ReadFile(*sigFile)
	if err != nil {
		return hintf("sign it first with 'signet sign', or name the signature with --signature", "reading signature: %w", err)
	}
	if k != nil {
		// Any version the key has had, unless revoked (docs/rotation.md).
		var n int
		if n, err = client.VerifyFileVersions(k, file, sig, raw.Options{PSS: *pss}); err == nil && n != 0 && n != k.Version {
			for _, v := range k.Versions {
				if v.Version == n {
					label = fmt.Sprintf("key %s version %d (%s), %s", k.Name, n, v.Fingerprint, v.State)
				}
			}
		}
	} else {
		err = client.VerifyFile(pub, file, sig, raw.Options{PSS: *pss})
	}
	if err != nil {
		if errors.Is(err, raw.ErrVerify) {
			if err != raw.ErrVerify {
				return fmt.Errorf("%s: BAD signature %s: %v", file, *sigFile, err)
			}
			return fmt.Errorf("%s: BAD signature %s for %s", file, *sigFile, label)
		}
		return err
	}
	fmt.Fprintf(env.stdout, "%s: good signature from %s\n", filepath.Base(file), label)
	return nil
}

func readPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := client.ParsePublicKey(b)
	if err != nil {
		return nil, hintf("export one with 'signet key public NAME > key.pem'", "%s: %w", path, err)
	}
	return pub, nil
}
