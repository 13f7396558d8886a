// Command signet is the Signet signing server and its command-line client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

const usage = `Signet keeps release keys and signs for build pipelines.

Usage:
    signet serve --dev [--data DIR] [--addr HOST:PORT]
    signet serve --config FILE [--addr HOST:PORT] [--data DIR] [--metrics-addr HOST:PORT] [--server-id NAME]
    signet config check FILE
    signet keystore init --dir DIR [--passphrase-file FILE]
    signet keystore migrate --from DIR --to postgres://…
    signet unlock [--passphrase-file FILE]
    signet unlock --share FILE --identity AGE-KEY
    signet lock
    signet status
    signet custody init --threshold N --recipient [NAME=]AGE-PUBLIC-KEY... [--shares M]
                        [--out DIR] [--passphrase-file FILE]
    signet custody rekey --threshold N --recipient [NAME=]AGE-PUBLIC-KEY... [--shares M]
    signet custody approve --share FILE --identity AGE-KEY [--proposal ID] [--out DIR]
    signet custody reset
    signet hsm enroll NAME [--pin-file FILE]
    signet key create NAME --type TYPE [--usage USAGE] [--uid 'Name <email>']
    signet key list
    signet key public NAME [--format pem|ssh|minisign|openpgp|key-list] [--armor]
    signet key versions NAME
    signet key rotate NAME
    signet key revoke NAME --version V --reason compromised|superseded|retired
    signet key transition OLD NEW [--reason TEXT] [-o FILE]
    signet verify-transition --old OLD-KEY [--log-key KEY] [--new-key-out PEM] STATEMENT
    signet verify-key-list --root ROOT.pem [--key NAME] KEY-LIST.json
    signet key cert NAME [--csr [--subject 'CN=…,O=…'] | --import-chain chain.pem]
    signet sign --key NAME [--rsa-pss] [-o SIG] [--name NAME] FILE...
    signet sign --key NAME [--jobs N] [--batch N] [--skip-existing] [--force] [--files-from LIST|-] [FILE...]
    signet sign --format ssh --namespace NS --key NAME FILE...        (FILE.sig)
    signet sign --format minisign --key NAME [--trusted-comment C] FILE...  (FILE.minisig)
    signet sign --format pgp --key NAME [--armor] FILE...             (FILE.sig, FILE.asc)
    signet sign --format pgp-clearsign --key NAME FILE                (FILE.asc)
    signet sign --format authenticode --key NAME [--timestamp URL] [-o SIGNED.exe] APP.exe...  (in place)
    signet sign --format rpm --key NAME PKG.rpm...                    (signed in place)
    signet sign --format deb --key NAME PKG.deb...                    (signed in place)
    signet sign --format cosign --key NAME [-a K=V]... REGISTRY/REPO(:TAG|@sha256:HEX)...  (in the registry)
    signet attest --key NAME --subject FILE... --predicate-type URI --predicate P.json [-o OUT]
    signet attest --format cosign --key NAME --predicate-type URI --predicate P.json IMAGE...
    signet catalog sign NAME [--param K=V]... (INDEX | --sha256 HEX) [-o DIR]
    signet verify (--key NAME | --public-key PEM) [--rsa-pss] [--signature SIG] FILE
    signet token issue --subject JOB --key NAME [--format raw] [--ttl 1h]
                       [--name PATTERN]... [--max-items N] [--bind-cert FINGERPRINT]
    signet token inspect TOKEN
    signet token deny [--id TOKEN_ID]... [--deny-subject JOB]...
    signet bench --key NAME [--format raw] [--concurrency 16] [--duration 10s]
                 [--requests N] [--batch N] [--size 1KiB] [--rsa-pss] [--baseline]
    signet audit key
    signet audit check-receipt [--log-key KEY] [--signature SIG] [--entry] FILE.sig.receipt
    signet audit search [--key K] [--version V] [--principal P] [--digest ALG:HEX]
                        [--name GLOB] [--since T] [--until T] [--action A] [--decision D] [--json]
    signet audit verify [--log-key KEY] (--data DIR | --config FILE | --postgres URL | --server URL)
    signet audit watch --server URL [--log-key KEY] --state FILE
    signet audit migrate (--data DIR | --config FILE)
    signet audit reindex (--data DIR | --config FILE)
    signet incident report --key NAME [--version V] [--since T] [--until T] [--json] [-o FILE]
                           [--log-key KEY] [--data DIR | --config FILE | --postgres URL | --server URL]
    signet incident resign --report R --source DIR --key NEW [--log-key KEY]
    signet agent --config agent.yaml [--socket PATH]
    signet cot sign --key NAME [-o SIG] chain-of-trust.json
    signet cot verify --task-id ID --queue URL --trust FILE|URL [--product NAME]
                      [--task-type TYPE] [--json] [--require-rebuild] [--check-task]
                      [--offline DIR] [--github-api URL] [--parallel N]
    signet cot fetch --task-id ID --queue URL --trust FILE|URL --dest DIR
                     [--artifact [TASKID:]PATH]... [--product NAME] [--task-type TYPE]
                     [--json] [--require-rebuild] [--offline DIR] [--parallel N]

Keys have versions, each with a validity window and a state (active,
retired, revoked); the active one signs, and retired ones still verify.
key rotate makes a new version now (keys with rotation.keys.NAME.rotate_every
in the config rotate by themselves); key revoke repudiates one: for an
OpenPGP key a revocation of its subkey, published with key public --format
openpgp, for other keys a mark in the signed key list (key public --format
key-list, checked with verify-key-list against the root key). key
transition has two keys sign a statement that the new one replaces the
old, checked with verify-transition against the old key. incident report
lists from the audit log, each entry proven, everything a key or one
version signed, by principal and token, and the attempts refused; with
--json it is the input of incident resign, which signs every reported
artifact found in DIR again with a new key. See docs/rotation.md.

serve --dev creates (or reuses) a development server in DIR (default
./signet-data): a private CA, certificates, an unlocked keystore and
DIR/client.env, which points the client commands at it and pins the audit
log's key. Its admin may do everything, issue tokens included, and it
signs two catalogs with the key "archive" (once created): "debian" (APT,
DIR/catalogs/debian/dists/{suite}/Release) and "sums"
(DIR/catalogs/sums/SHA256SUMS). It refuses a busy port before writing
anything, and a DIR that holds other files:

    signet serve --dev --data /tmp/sg --addr 127.0.0.1:8443 >/tmp/sg.log 2>&1 &
    . /tmp/sg/client.env

serve --config runs a production server; see docs/config.md. Its keystore
starts locked: create it once with 'signet keystore init' and open it after
each start with 'signet unlock'. An unlock is a lease: it ends after
keystore.idle_ttl without signing, keystore.max_ttl after it began, or at
'signet lock' (the panic button); then keys are wiped until humans unlock
again. 'signet status' shows the lease, custody progress and keys.

serve --config stops on SIGTERM or SIGINT: it turns not ready, stops
accepting, lets requests in flight finish (drain_timeout), flushes the
audit log and exits 0. SIGHUP reloads grants, token verifiers and the deny
list, catalogs and TLS certificates from FILE without dropping a request;
a file that does not load is refused and the running configuration stays.
config check FILE checks a configuration offline, as serve would load it,
and prints each problem as FILE:LINE: field: why. See docs/operations.md.

custody init hands the keystore to N of M custodians: it splits a new
unlock secret into one share per age public key (age-keygen), writes
DIR/NAME.share for each, and the passphrase stops working. From then on
each of N custodians runs 'signet unlock --share NAME.share --identity
NAME.key'; the share is decrypted locally and checked by the server on
entry. custody rekey proposes a new set of custodians, which takes effect
when N current custodians run 'custody approve'; old shares then stop
working. hsm enroll hands a PKCS #11 token (keystore.pkcs11 in the config)
to the keystore. See docs/custody.md.

Key types: ed25519, ecdsa-p256, ecdsa-p384, rsa-3072, rsa-4096, and the
OpenPGP v4 types pgp-ed25519 and pgp-rsa4096 (which need --uid). A key signs
in one format family, its usage, fixed at creation: raw (the default), ssh
(SSH signatures, git), minisign (ed25519 only), dsse (in-toto
attestations), cot (Taskcluster chain of trust, ed25519 only), pgp
(OpenPGP keys, which sign nothing else), authenticode (Windows PE files;
ECDSA and RSA), tsa (RFC 3161 time-stamp tokens; ECDSA and RSA), rpm or deb (OpenPGP keys for package signatures only);
token and audit keys sign Signet's tokens and log checkpoints. See
docs/formats.md.

sign writes a raw signature next to each FILE as FILE.sig (or to -o SIG for
a single file), and its audit receipt as FILE.sig.receipt. Each FILE is
signed under its path, cleaned and relative to the working directory
(dist/app.tar.gz), which grants match and the audit log records; a path
outside the working directory is refused unless named with --name NAME. ECDSA and RSA keys sign a
digest computed here, so files are never uploaded; Ed25519 keys sign the
whole file, which the server bounds in size. The result verifies with
openssl; see docs/formats.md.

sign hashes --jobs files at once (default 8) and sends them in batches as
large as the server accepts (--batch N for fewer); it lists the signature
files written, shows progress on a terminal and a summary otherwise, and
exits non-zero listing every file that failed. --files-from LIST reads more
files from LIST ('-': standard input), one per line or NUL-separated
(find -print0); a list leaves out the files Signet writes (FILE.sig,
FILE.asc, FILE.minisig, SIG.receipt, FILE.intoto.json, Release.gpg,
InRelease), which are signed only when named on the command line.
--skip-existing leaves out files whose signature already verifies with
the key, so a failed run can simply be repeated. sign never replaces a
signature file made by another key or in another format (its receipt
says which): it names the file and fails, unless --force.

sign --format ssh writes SSH signatures (ssh-keygen -Y verify, git); sign
--format minisign writes minisign signatures (minisign -V). attest writes a
DSSE envelope of an in-toto statement about the subjects to
FIRST-SUBJECT.intoto.json (or -o OUT, '-' for standard output). Run as
signet-ssh-sign (a link to this program), signet signs like
'ssh-keygen -Y sign' for git's gpg.ssh.program; see docs/formats.md.

sign --format pgp writes a detached OpenPGP signature, FILE.sig (binary)
or with --armor FILE.asc; only the file's SHA-256 state is sent. sign
--format pgp-clearsign uploads the text FILE and writes FILE.asc, the
clearsigned text. Both verify with gpgv; see docs/formats.md. key public
--format openpgp prints the key's certificate for gpg --import or apt's
signed-by.

sign --format authenticode signs Windows PE files (.exe, .dll) in place,
or to -o SIGNED.exe: the Authenticode hash is computed here, the server
returns the PKCS #7 signature with the key's code-signing certificate
chain, and it is embedded in the file (osslsigncode verify, Windows). The
key needs that certificate first: key cert NAME --csr prints a PKCS #10
request signed by the key, for your CA; key cert NAME --import-chain FILE
attaches the chain it issued (leaf first), after the server has checked
it; key cert NAME prints the chain attached. --timestamp URL adds an RFC
3161 countersignature from that time-stamp authority (Signet's own is
https://SERVER/v1/timestamp/KEY, for a key created with --usage tsa), so
the signature still verifies after the certificate expires.

sign --format rpm puts a header signature into each RPM package (rpmkeys
--checksig); only the package's header is sent. sign --format deb adds the
debsigs origin signature, the _gpgorigin member, to each Debian package
(debsig-verify); only a hash state is sent. Both check the package first,
rewrite it in place (atomically) and write PKG.receipt; they need a
pgp-ed25519 or pgp-rsa4096 key created with --usage rpm or --usage deb.

catalog sign has the server check a configured repository index (APT
Release, RPM repomd.xml, SHA256SUMS) and everything it references, then
sign it. Give the index you will publish (or its SHA-256 with --sha256);
the signature files (Release.gpg and InRelease, repomd.xml.asc, NAME.asc)
are written next to it (with --sha256, to the current directory), or to
-o DIR:

    signet catalog sign debian --param suite=stable repo/dists/stable/Release

verify checks FILE against FILE.sig (or --signature SIG) with the public key
of a server key or of a PEM file, and exits non-zero if it does not verify.

token issue (for principals with issue_tokens) prints a short-lived token
for one job, scoped to keys, formats and artifact-name patterns within the
issuer's own grants. A worker signs with it and no certificate of its own:

    SIGNET_TOKEN=$(signet token issue --subject build-42 --key release --ttl 2h)
    SIGNET_TOKEN=$SIGNET_TOKEN signet sign --key release app.tar.gz

Every act of the server is recorded in its audit log before it answers.
sign saves each signature's receipt as SIG.receipt: proof, checkable
offline with the log's key, that the log holds its entry. audit key prints
that key (pin it: $SIGNET_LOG_KEY or --log-key); audit verify recomputes
the whole log and checks every signed checkpoint; audit watch, run from
elsewhere, alerts (exit 3) when the log forks or rewrites history. See
docs/audit.md.

token inspect has the server verify a token and prints its claims. token
deny prints a signed deny list revoking tokens by id or subject, for the
tokens.deny_list file of every replica. See docs/tokens.md.

agent runs on a build host as a user of its own: local programs sign
through its Unix socket with SIGNET_SERVER=unix:/run/signet/agent.sock and
no credentials; the kernel tells the agent who they are, its grants say
what they may sign, and it forwards to the servers with the host's
certificate, naming the local user. See docs/agent.md.

Client options may list several servers, SIGNET_SERVER=https://a,https://b:
requests that fail on a connection error, a timeout or a 5xx are retried on
the next one (4xx never), and the audit log marks the retries.

cot sign signs a Taskcluster chain-of-trust.json with a key created with
--usage cot (raw Ed25519 over its exact bytes) and writes
chain-of-trust.json.sig; workers sign with their job token and keep no key.
cot verify checks a task's chain of trust back to the tree, as scriptworker
does, against the keys and rules of the trust file (a path, or a URL in
version control at a pinned revision; --product picks one of several), and
rebuilds decision and action tasks from .taskcluster.yml with json-e
(--require-rebuild: a rebuild that cannot run fails; --offline DIR reads its
inputs from files). --queue defaults to $TASKCLUSTER_ROOT_URL. It prints a
tree of links with the reason for each failure (or --json) and exits 0 when
everything verified, 3 when the chain did not, 2 for a usage mistake. cot fetch verifies the same way and places the upstream artifacts
(all, or each --artifact) in DIR/TASKID/PATH with a manifest, only once they
match the signed digests. See docs/cot.md.

Client options (all commands but serve and keystore init):
    --server URL      server URL(s), or unix:SOCKET of an agent (default $SIGNET_SERVER)
    --cacert FILE     CA of the server        (default $SIGNET_CACERT)
    --cert FILE       client certificate      (default $SIGNET_CLIENT_CERT)
    --cert-key FILE   client certificate key  (default $SIGNET_CLIENT_KEY)
    --token TOKEN     bearer token            (default $SIGNET_TOKEN)
    --retry-for D     retry budget, exponential backoff with jitter over every
                      server listed (default $SIGNET_RETRY_FOR, else 60s)
`

func main() {
	// Installed as signet-ssh-sign (a link or copy), signet is git's
	// gpg.ssh.program and speaks ssh-keygen's command line.
	if filepath.Base(os.Args[0]) == "signet-ssh-sign" {
		os.Exit(runSSHSign(&cmdEnv{ctx: context.Background(), stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:], os.Stdin))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one signet command and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		printOverview(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printOverview(stdout)
		return 0
	case "help":
		switch {
		case len(args) == 1:
			printOverview(stdout)
		case args[1] == "all":
			fmt.Fprint(stdout, usage)
		case !printHelp(stdout, args[1:]):
			fmt.Fprintf(stderr, "signet: no help for %q\nsignet: hint: run 'signet help' for the list of commands\n", strings.Join(args[1:], " "))
			return 2
		}
		return 0
	case "version", "--version", "-version":
		printVersion(stdout)
		return 0
	}
	if wantsHelp(args) && printHelp(stdout, args) {
		return 0
	}
	env := &cmdEnv{ctx: ctx, stdout: stdout, stderr: stderr}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(env, rest)
	case "keystore":
		err = runKeystore(env, rest)
	case "unlock":
		err = runUnlock(env, rest)
	case "lock":
		err = runLock(env, rest)
	case "status":
		err = runStatus(env, rest)
	case "custody":
		err = runCustody(env, rest)
	case "hsm":
		err = runHSM(env, rest)
	case "key":
		err = runKey(env, rest)
	case "sign":
		err = runSign(env, rest)
	case "attest":
		err = runAttest(env, rest)
	case "token":
		err = runToken(env, rest)
	case "audit":
		err = runAudit(env, rest)
	case "bench":
		err = runBench(env, rest)
	case "verify":
		err = runVerify(env, rest)
	case "cot":
		err = runCoT(env, rest)
	case "catalog":
		err = runCatalog(env, rest)
	case "incident":
		err = runIncident(env, rest)
	case "verify-transition":
		err = runVerifyTransition(env, rest)
	case "verify-key-list":
		err = runVerifyKeyList(env, rest)
	case "agent":
		err = runAgent(env, rest)
	case "config":
		err = runConfig(env, rest)
	default:
		err = hintf("run 'signet help' for the list of commands", "unknown command %q", cmd)
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		if !printHelp(stdout, args) {
			printOverview(stdout)
		}
		return 0
	}
	fmt.Fprintf(stderr, "signet: %v\n", err)
	var h *hintError
	if errors.As(err, &h) {
		hint := h.hint
		if hint == usageHint {
			hint = "run '" + helpCommand(args) + "' for usage"
		}
		fmt.Fprintf(stderr, "signet: hint: %s\n", hint)
	}
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	var x *exitCode
	if errors.As(err, &x) {
		return x.code
	}
	return 1
}

// cmdEnv is what every command runs with.
type cmdEnv struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// hintError is an error with a suggestion of what to type instead.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func hintf(hint, format string, args ...any) error {
	return &hintError{fmt.Errorf(format, args...), hint}
}

// usageError is a mistake in the command line; it exits with status 2.
type usageError struct{ error }

func (e *usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error {
	return &hintError{&usageError{fmt.Errorf(format, args...)}, usageHint}
}

// usageHint stands for "run 'signet CMD --help' for usage", which run
// fills in with the command.
const usageHint = "run 'signet help' for usage"

// helpCommand is the command that shows the usage of the command args run.
func helpCommand(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	c, group := findCommand(words)
	switch {
	case c != nil:
		return "signet " + c.name + " --help"
	case group != "":
		return "signet " + group + " --help"
	}
	return "signet help"
}

// parseFlags parses flags anywhere among args, as in 'key create NAME
// --type T', and returns the positional arguments. "--" ends flags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
