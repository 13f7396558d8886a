package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// Help comes in three sizes, as in git: 'signet' alone prints the
// overview (a line per command), 'signet CMD --help', 'signet CMD -h'
// and 'signet help CMD' print that command's page (synopsis, what it
// does, flags, two examples), and 'signet help all' prints the whole
// manual (usage).

// command is the help page of one command or subcommand.
type command struct {
	name     string   // "sign", "key create"
	summary  string   // one line, for the overview and group pages
	synopsis []string // after "signet "
	about    string
	flags    [][2]string // flag, meaning
	examples []string
	client   bool // takes the client options
}

var commands = []command{
	{name: "serve", summary: "run a server (a development one with --dev)",
		synopsis: []string{"serve --dev [--data DIR] [--addr HOST:PORT]", "serve --config FILE [--addr HOST:PORT] [--data DIR] [--metrics-addr HOST:PORT]"},
		about: `--dev creates (or reuses) a development server in DIR: a private CA, an
unlocked keystore, tokens, two catalogs (DIR/catalogs/debian, DIR/catalogs/sums)
and DIR/client.env, which points the client at it. --config runs a
production server; its keystore starts locked (see docs/config.md).`,
		flags: [][2]string{{"--dev", "development server in --data DIR"}, {"--data DIR", "data directory (default signet-data)"},
			{"--addr HOST:PORT", "listen address (default 127.0.0.1:8443; :0 picks a free port)"}, {"--config FILE", "production configuration"},
			{"--metrics-addr HOST:PORT", "listener of /metrics, /healthz and /readyz"}},
		examples: []string{"signet serve --dev --data /tmp/sg --addr 127.0.0.1:8443 >/tmp/sg.log 2>&1 &", "signet serve --config /etc/signet/signet.yaml"}},
	{name: "config check", summary: "check a server configuration offline",
		synopsis: []string{"config check FILE"},
		about:    "Loads FILE as serve would and prints every problem as FILE:LINE: field: why.",
		examples: []string{"signet config check /etc/signet/signet.yaml", "signet config check signet.yaml && systemctl reload signet"}},
	{name: "keystore init", summary: "create an encrypted keystore",
		synopsis: []string{"keystore init --dir DIR [--passphrase-file FILE]"},
		about:    "Creates an empty keystore encrypted with a passphrase (prompted for, or read from FILE).",
		flags:    [][2]string{{"--dir DIR", "the keystore directory (DATA/keystore)"}, {"--passphrase-file FILE", "read the passphrase from FILE"}},
		examples: []string{"signet keystore init --dir /var/lib/signet/keystore", "signet keystore init --dir data/keystore --passphrase-file pass.txt"}},
	{name: "keystore migrate", summary: "move a keystore directory into PostgreSQL for a fleet",
		synopsis: []string{"keystore migrate --from DIR --to postgres://…"},
		about:    "Copies every sealed record of the keystore in DIR, byte for byte, into the PostgreSQL database that the replicas of a fleet share (keystore.postgres), so that the same passphrase or shares unlock it. Refuses a directory a running server holds and a database that already holds a keystore.",
		flags:    [][2]string{{"--from DIR", "the keystore directory (DATA/keystore); stop its server first"}, {"--to URL", "the fleet's PostgreSQL database"}},
		examples: []string{"signet keystore migrate --from /var/lib/signet/keystore --to postgres://signet@db.example.org/signet", "signet keystore migrate --from data/keystore --to \"$SIGNET_POSTGRES\""}},
	{name: "unlock", summary: "open the keystore's lease", client: true,
		synopsis: []string{"unlock [--passphrase-file FILE]", "unlock --share FILE --identity AGE-KEY"},
		about:    "Opens a lease on a locked keystore with the passphrase, or submits one custodian's share.",
		flags:    [][2]string{{"--passphrase-file FILE", "read the passphrase from FILE"}, {"--share FILE", "a custodian's share file"}, {"--identity AGE-KEY", "the age identity that decrypts the share"}},
		examples: []string{"signet unlock", "signet unlock --share alice.share --identity alice.key"}},
	{name: "lock", summary: "wipe the keys from memory now (the panic button)", client: true,
		synopsis: []string{"lock"},
		examples: []string{"signet lock", "signet lock --server https://signet1.example.org:8443"}},
	{name: "status", summary: "show the lease, custody progress and keys", client: true,
		synopsis: []string{"status"},
		examples: []string{"signet status", "signet status --server https://signet2.example.org:8443"}},
	{name: "custody init", summary: "split the unlock secret among N of M custodians", client: true,
		synopsis: []string{"custody init --threshold N --recipient [NAME=]AGE-PUBLIC-KEY... [--shares M] [--out DIR] [--passphrase-file FILE]"},
		flags:    [][2]string{{"--threshold N", "shares needed to unlock"}, {"--recipient [NAME=]KEY", "a custodian's age public key (repeat)"}, {"--shares M", "shares made (default one per recipient)"}, {"--out DIR", "where NAME.share files go (default .)"}, {"--passphrase-file FILE", "the current passphrase"}},
		examples: []string{"signet custody init --threshold 2 --recipient alice=age1… --recipient bob=age1… --recipient carol=age1…", "signet custody init --threshold 2 --recipient age1… --recipient age1… --out shares"}},
	{name: "custody rekey", summary: "propose a new set of custodians", client: true,
		synopsis: []string{"custody rekey --threshold N --recipient [NAME=]AGE-PUBLIC-KEY... [--shares M]"},
		flags:    [][2]string{{"--threshold N", "shares needed to unlock"}, {"--recipient [NAME=]KEY", "a custodian's age public key (repeat)"}, {"--shares M", "shares made"}},
		examples: []string{"signet custody rekey --threshold 2 --recipient alice=age1… --recipient dave=age1…", "signet custody rekey --threshold 3 --recipient a=age1… --recipient b=age1… --recipient c=age1…"}},
	{name: "custody approve", summary: "approve a rekey with a current share", client: true,
		synopsis: []string{"custody approve --share FILE --identity AGE-KEY [--proposal ID] [--out DIR]"},
		flags:    [][2]string{{"--share FILE", "your current share"}, {"--identity AGE-KEY", "the age identity that decrypts it"}, {"--proposal ID", "the rekey proposal approved"}, {"--out DIR", "where the new shares go"}},
		examples: []string{"signet custody approve --share alice.share --identity alice.key", "signet custody approve --share bob.share --identity bob.key --proposal 3f2a --out shares"}},
	{name: "custody reset", summary: "drop shares submitted without reaching a quorum", client: true,
		synopsis: []string{"custody reset"},
		examples: []string{"signet custody reset", "signet status && signet custody reset"}},
	{name: "hsm enroll", summary: "hand a PKCS #11 token to the keystore", client: true,
		synopsis: []string{"hsm enroll NAME [--pin-file FILE]"},
		flags:    [][2]string{{"--pin-file FILE", "read the token's PIN from FILE"}},
		examples: []string{"signet hsm enroll hsm1", "signet hsm enroll hsm1 --pin-file pin.txt"}},
	{name: "key create", summary: "generate a key inside the server", client: true,
		synopsis: []string{"key create NAME --type TYPE [--usage USAGE] [--uid 'Name <email>']"},
		about:    "Types: ed25519, ecdsa-p256, ecdsa-p384, rsa-3072, rsa-4096, pgp-ed25519, pgp-rsa4096.\nUsages: raw, ssh, minisign, dsse, cot, pgp, authenticode, rpm, deb, cosign,\nnotation, tsa, token, audit.",
		flags:    [][2]string{{"--type TYPE", "the key type"}, {"--usage USAGE", "the one format family it signs in (default raw, pgp for OpenPGP keys)"}, {"--uid 'Name <email>'", "OpenPGP user id (pgp-* types)"}},
		examples: []string{"signet key create release --type ecdsa-p256", "signet key create archive --type pgp-ed25519 --uid 'Example Archive <archive@example.org>'"}},
	{name: "key list", summary: "list the keys", client: true,
		synopsis: []string{"key list"},
		examples: []string{"signet key list", "signet key list --server https://signet1.example.org:8443"}},
	{name: "key public", summary: "print a key's public half", client: true,
		synopsis: []string{"key public NAME [--format pem|ssh|minisign|openpgp|key-list] [--armor]"},
		flags:    [][2]string{{"--format F", "pem (default), ssh, minisign, openpgp or key-list"}, {"--armor", "ASCII-armored OpenPGP certificate"}},
		examples: []string{"signet key public release > release.pub.pem", "signet key public archive --format openpgp > archive.gpg"}},
	{name: "key versions", summary: "list a key's versions and windows", client: true,
		synopsis: []string{"key versions NAME"},
		examples: []string{"signet key versions release", "signet key versions archive"}},
	{name: "key rotate", summary: "make a new version that signs from now on", client: true,
		synopsis: []string{"key rotate NAME"},
		examples: []string{"signet key rotate release", "signet key rotate release && signet key versions release"}},
	{name: "key revoke", summary: "repudiate one version of a key", client: true,
		synopsis: []string{"key revoke NAME --version V --reason compromised|superseded|retired"},
		flags:    [][2]string{{"--version V", "the version revoked"}, {"--reason R", "compromised, superseded or retired"}},
		examples: []string{"signet key revoke release --version 1 --reason compromised", "signet key revoke archive --version 2 --reason superseded"}},
	{name: "key transition", summary: "have two keys sign that the new one replaces the old", client: true,
		synopsis: []string{"key transition OLD NEW [--reason TEXT] [-o FILE]"},
		flags:    [][2]string{{"--reason TEXT", "why, in the statement"}, {"-o FILE", "the statement (default OLD-to-NEW.transition.json)"}},
		examples: []string{"signet key transition release release-2027", "signet key transition release release-2027 --reason 'replaced after the incident' -o t.json"}},
	{name: "key cert", summary: "code-signing certificates of a key", client: true,
		synopsis: []string{"key cert NAME [--csr [--subject 'CN=…,O=…'] | --import-chain chain.pem]"},
		flags:    [][2]string{{"--csr", "print a PKCS #10 request signed by the key"}, {"--subject DN", "the request's subject"}, {"--import-chain FILE", "attach the chain your CA issued (leaf first)"}},
		examples: []string{"signet key cert winsign --csr --subject 'CN=Example Corp,O=Example Corp' > winsign.csr", "signet key cert winsign --import-chain chain.pem"}},
	{name: "sign", summary: "sign files", client: true,
		synopsis: []string{"sign --key NAME [--format F] [-o SIG] [--name NAME] [--force] FILE...",
			"sign --key NAME [--jobs N] [--batch N] [--skip-existing] [--files-from LIST|-] [FILE...]",
			"sign --format cosign --key NAME [-a K=V]... REGISTRY/REPO(:TAG|@sha256:HEX)..."},
		about: `Writes FILE.sig (FILE.minisig, FILE.asc) and its audit receipt SIG.receipt
next to each FILE; rpm, deb and authenticode sign the file in place. Each
file is signed under its name: the path as given, cleaned and relative
(or --name). Lists leave out the files Signet writes; a signature of
another key or format is never replaced without --force.`,
		flags: [][2]string{{"--key NAME", "the key"}, {"--format F", "raw (default), ssh, minisign, pgp, pgp-clearsign, authenticode, rpm, deb, cosign (images)"},
			{"-o SIG", "the signature file, for one FILE"}, {"--name NAME", "the artifact name the grants and the log see, for one FILE"},
			{"--rsa-pss", "RSA-PSS rather than PKCS #1 v1.5"}, {"--namespace NS", "ssh: the namespace (git, file)"}, {"--trusted-comment C", "minisign: the signed comment"},
			{"--armor", "pgp: FILE.asc rather than FILE.sig"}, {"--jobs N", "files hashed at once (default 8)"}, {"--batch N", "files per request (default the server's limit)"},
			{"--files-from LIST", "more files, one a line or NUL-separated ('-': standard input)"}, {"--skip-existing", "leave out files whose signature verifies"},
			{"--force", "replace signatures of another key or format"}, {"-a K=V", "cosign: an annotation of the image signature"},
			{"--timestamp URL", "authenticode: an RFC 3161 time-stamp of each signature from URL"}},
		examples: []string{"signet sign --key release app.tar.gz", "find dist -type f -print0 | signet sign --key release --files-from - --skip-existing"}},
	{name: "attest", summary: "sign an in-toto statement (DSSE)", client: true,
		synopsis: []string{"attest --key NAME --subject FILE... --predicate-type URI --predicate P.json [-o OUT]",
			"attest --format cosign --key NAME --predicate-type URI --predicate P.json IMAGE..."},
		flags:    [][2]string{{"--subject FILE", "a subject (repeat)"}, {"--predicate-type URI", "the predicate's type"}, {"--predicate FILE", "the predicate, a JSON object"}, {"-o OUT", "the envelope (default FIRST-SUBJECT.intoto.json; '-' for standard output)"}},
		examples: []string{"signet attest --key att --subject app.tar.gz --predicate-type https://slsa.dev/provenance/v1 --predicate prov.json", "signet attest --key att --subject a --subject b --predicate-type URI --predicate p.json -o -"}},
	{name: "catalog sign", summary: "have the server check and sign a repository index", client: true,
		synopsis: []string{"catalog sign NAME [--param K=V]... (INDEX | --sha256 HEX) [-o DIR]"},
		flags:    [][2]string{{"--param K=V", "a value of the catalog's path template (repeat)"}, {"--sha256 HEX", "the index's SHA-256, if you do not have it"}, {"-o DIR", "where the signatures go (default next to INDEX)"}},
		examples: []string{"signet catalog sign debian --param suite=stable repo/dists/stable/Release", "signet catalog sign sums /tmp/sg/catalogs/sums/SHA256SUMS"}},
	{name: "verify", summary: "check a raw signature", client: true,
		synopsis: []string{"verify (--key NAME | --public-key PEM) [--rsa-pss] [--signature SIG] FILE"},
		flags:    [][2]string{{"--key NAME", "a server key"}, {"--public-key PEM", "a public key file (no server needed)"}, {"--signature SIG", "the signature (default FILE.sig)"}, {"--rsa-pss", "RSA-PSS"}},
		examples: []string{"signet verify --key release app.tar.gz", "signet verify --public-key release.pub.pem --signature app.sig app.tar.gz"}},
	{name: "verify-transition", summary: "check a key transition statement",
		synopsis: []string{"verify-transition --old OLD-KEY [--log-key KEY] [--new-key-out PEM] STATEMENT"},
		flags:    [][2]string{{"--old PEM", "the old key you trust"}, {"--log-key KEY", "the audit log's key (default $SIGNET_LOG_KEY)"}, {"--new-key-out PEM", "write the new key, once verified"}},
		examples: []string{"signet verify-transition --old release.pem release-to-release-2027.transition.json", "signet verify-transition --old old.pem --new-key-out new.pem t.json"}},
	{name: "verify-key-list", summary: "check a signed key list against its root",
		synopsis: []string{"verify-key-list --root ROOT.pem [--key NAME] KEY-LIST.json"},
		flags:    [][2]string{{"--root PEM", "the root key"}, {"--key NAME", "the key the list must be about"}},
		examples: []string{"signet verify-key-list --root root.pem release.keylist.json", "signet verify-key-list --root root.pem --key release release.keylist.json"}},
	{name: "token issue", summary: "issue a short-lived token for one job", client: true,
		synopsis: []string{"token issue --subject JOB --key NAME [--format raw] [--ttl 1h] [--name PATTERN]... [--max-items N] [--bind-cert FINGERPRINT]"},
		flags: [][2]string{{"--subject JOB", "who the token is for"}, {"--key NAME", "a key it may use (repeat)"}, {"--format F", "a format it may use (repeat)"},
			{"--ttl D", "lifetime (default 1h)"}, {"--name PATTERN", "artifact names it may sign (repeat)"}, {"--max-items N", "signatures it may make"}, {"--bind-cert FP", "only with this client certificate"}},
		examples: []string{"SIGNET_TOKEN=$(signet token issue --subject build-42 --key release --ttl 2h)", "signet token issue --subject build-42 --key release --name 'dist/*.tar.gz'"}},
	{name: "token inspect", summary: "have the server verify a token and print its claims", client: true,
		synopsis: []string{"token inspect TOKEN"},
		examples: []string{"signet token inspect \"$SIGNET_TOKEN\"", "signet token inspect eyJhbGciOi…"}},
	{name: "token deny", summary: "print a signed deny list", client: true,
		synopsis: []string{"token deny [--id TOKEN_ID]... [--deny-subject JOB]..."},
		flags:    [][2]string{{"--id ID", "a token id to deny (repeat)"}, {"--deny-subject JOB", "deny every token of a subject (repeat)"}},
		examples: []string{"signet token deny --id 01HX… > deny.json", "signet token deny --deny-subject build-42 > /etc/signet/deny.json"}},
	{name: "bench", summary: "measure signing throughput and latency", client: true,
		synopsis: []string{"bench --key NAME [--format raw] [--concurrency 16] [--duration 10s] [--requests N] [--batch N] [--size 1KiB] [--rsa-pss] [--baseline]"},
		flags: [][2]string{{"--concurrency N", "requests at once (default 16)"}, {"--duration D", "how long (default 10s)"}, {"--requests N", "stop after N requests"},
			{"--batch N", "items per request"}, {"--size S", "message size (default 1KiB)"}, {"--baseline", "also measure an in-process TLS baseline"}},
		examples: []string{"signet bench --key release --duration 5s", "signet bench --key release --batch 100 --concurrency 4 --baseline"}},
	{name: "audit key", summary: "print the audit log's verifier key", client: true,
		synopsis: []string{"audit key"},
		examples: []string{"export SIGNET_LOG_KEY=$(signet audit key)", "signet audit key > log.key"}},
	{name: "audit check-receipt", summary: "check a receipt offline", client: true,
		synopsis: []string{"audit check-receipt [--log-key KEY] [--signature SIG] [--entry] FILE.sig.receipt"},
		flags:    [][2]string{{"--log-key KEY", "the log's key (default $SIGNET_LOG_KEY)"}, {"--signature SIG", "the signature the entry must record"}, {"--entry", "print the whole entry"}},
		examples: []string{"signet audit check-receipt app.tar.gz.sig.receipt", "signet audit check-receipt --entry --log-key \"$(cat log.key)\" app.tar.gz.sig.receipt"}},
	{name: "audit search", summary: "search the audit log", client: true,
		synopsis: []string{"audit search [--key K] [--version V] [--principal P] [--digest ALG:HEX] [--name GLOB] [--since T] [--until T] [--action A] [--decision D] [--json]"},
		flags:    [][2]string{{"--name GLOB", "artifact names (paths as signed)"}, {"--since T, --until T", "RFC 3339 times or durations"}, {"--json", "JSON lines; entries no checkpoint covers yet under \"unproven\""}},
		examples: []string{"signet audit search --key release", "signet audit search --name 'dist/*.tar.gz' --since 24h --json"}},
	{name: "audit verify", summary: "recompute the whole log and check its checkpoints", client: true,
		synopsis: []string{"audit verify [--log-key KEY] (--data DIR | --config FILE | --postgres URL | --server URL)"},
		examples: []string{"signet audit verify --server $SIGNET_SERVER", "signet audit verify --data /var/lib/signet"}},
	{name: "audit watch", summary: "alert when the log forks or rewrites history", client: true,
		synopsis: []string{"audit watch --server URL [--log-key KEY] --state FILE"},
		examples: []string{"signet audit watch --server https://signet.example.org:8443 --state watch.json", "signet audit watch --server $SIGNET_SERVER --state /var/lib/watch/state.json || page-oncall"}},
	{name: "audit migrate", summary: "move a SQLite audit log to a tile log with the same tree",
		synopsis: []string{"audit migrate (--data DIR | --config FILE)"},
		about: `Stop the server first. The copy is checked before anything switches: the
tile log must have the root of every checkpoint the old log kept. The old
database is then moved aside (log.db.migrated-TIME).`,
		examples: []string{"signet audit migrate --data /var/lib/signet", "signet audit migrate --config /etc/signet/signet.yaml"}},
	{name: "audit reindex", summary: "rebuild a tile log's search index from the log",
		synopsis: []string{"audit reindex (--data DIR | --config FILE)"},
		about:    `Stop the server first. The index is derived data: searches are complete without it.`,
		examples: []string{"signet audit reindex --data /var/lib/signet", "signet audit reindex --config /etc/signet/signet.yaml"}},
	{name: "incident report", summary: "everything a key or version signed, proven", client: true,
		synopsis: []string{"incident report --key NAME [--version V] [--since T] [--until T] [--json] [-o FILE] [--log-key KEY] [--data DIR | --config FILE | --postgres URL | --server URL]"},
		examples: []string{"signet incident report --key release --version 1", "signet incident report --key release --version 1 --json -o v1.json"}},
	{name: "incident resign", summary: "sign a report's artifacts again with a new key", client: true,
		synopsis: []string{"incident resign --report R --source DIR --key NEW [--log-key KEY]"},
		examples: []string{"signet incident resign --report v1.json --source dist --key release-2027", "signet incident resign --report v1.json --source /srv/releases --key release-2027"}},
	{name: "agent", summary: "local Unix-socket signing proxy for a build host",
		synopsis: []string{"agent --config agent.yaml [--socket PATH]"},
		examples: []string{"signet agent --config /etc/signet/agent.yaml", "SIGNET_SERVER=unix:/run/signet/agent.sock signet sign --key release app.tar.gz"}},
	{name: "cot sign", summary: "sign a Taskcluster chain-of-trust document", client: true,
		synopsis: []string{"cot sign --key NAME [-o SIG] chain-of-trust.json"},
		examples: []string{"signet cot sign --key cot-generic-worker chain-of-trust.json", "signet cot sign --key cot-generic-worker -o public/chain-of-trust.json.sig chain-of-trust.json"}},
	{name: "cot verify", summary: "verify a task's chain of trust",
		synopsis: []string{"cot verify --task-id ID --queue URL --trust trust.yaml [--task-type TYPE] [--json] [--require-rebuild] [--parallel N]"},
		examples: []string{"signet cot verify --task-id $TASK_ID --trust trust.yaml", "signet cot verify --task-id $TASK_ID --queue $TASKCLUSTER_ROOT_URL --trust trust.yaml --json"}},
	{name: "cot fetch", summary: "fetch only verified upstream artifacts",
		synopsis: []string{"cot fetch --task-id ID --queue URL --trust trust.yaml --dest DIR [--artifact [TASKID:]PATH]... [--task-type TYPE] [--json] [--parallel N]"},
		examples: []string{"signet cot fetch --task-id $TASK_ID --trust trust.yaml --dest inputs", "signet cot fetch --task-id $TASK_ID --trust trust.yaml --dest inputs --artifact public/build/target.tar.gz"}},
	{name: "version", summary: "print the version, commit and Go version",
		synopsis: []string{"version", "--version"},
		examples: []string{"signet version", "signet --version"}},
	{name: "help", summary: "help on a command, or 'help all' for the whole manual",
		synopsis: []string{"help [COMMAND [SUBCOMMAND]]", "help all"},
		examples: []string{"signet help sign", "signet key create --help"}},
}

// groups are the commands that take a subcommand.
var groups = map[string]string{
	"config": "server configuration", "keystore": "the keystore on disk", "custody": "N-of-M custodians of the unlock secret",
	"hsm": "PKCS #11 tokens", "key": "keys and their versions", "catalog": "repository indexes", "token": "short-lived tokens",
	"audit": "the audit log", "incident": "incident response", "cot": "Taskcluster chain of trust",
}

const clientOptionsHelp = `Client options:
    --server URL      server URL(s), or unix:SOCKET of an agent (default $SIGNET_SERVER)
    --cacert FILE     CA of the server        (default $SIGNET_CACERT)
    --cert FILE       client certificate      (default $SIGNET_CLIENT_CERT)
    --cert-key FILE   client certificate key  (default $SIGNET_CLIENT_KEY)
    --token TOKEN     bearer token            (default $SIGNET_TOKEN)
`

// findCommand returns the page of args (a command and perhaps its
// subcommand), or the name of its group, or neither.
func findCommand(args []string) (*command, string) {
	if len(args) == 0 {
		return nil, ""
	}
	if len(args) > 1 {
		for i := range commands {
			if commands[i].name == args[0]+" "+args[1] {
				return &commands[i], ""
			}
		}
	}
	if _, ok := groups[args[0]]; ok {
		// 'config check' and the like are the only page of their group.
		return nil, args[0]
	}
	for i := range commands {
		if commands[i].name == args[0] {
			return &commands[i], ""
		}
	}
	return nil, ""
}

// wantsHelp reports whether args ask for help: -h or --help before "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// printHelp prints the help page of the command args name, and reports
// whether there is one.
func printHelp(w io.Writer, args []string) bool {
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
		printPage(w, c)
	case group != "":
		printGroup(w, group)
	default:
		return false
	}
	return true
}

func printPage(w io.Writer, c *command) {
	fmt.Fprintf(w, "signet %s: %s\n\nUsage:\n", c.name, c.summary)
	for _, s := range c.synopsis {
		fmt.Fprintf(w, "    signet %s\n", s)
	}
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", c.about)
	}
	if len(c.flags) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		width := 0
		for _, f := range c.flags {
			width = max(width, len(f[0]))
		}
		for _, f := range c.flags {
			fmt.Fprintf(w, "    %-*s  %s\n", width, f[0], f[1])
		}
	}
	fmt.Fprintln(w, "\nExamples:")
	for _, e := range c.examples {
		fmt.Fprintf(w, "    %s\n", e)
	}
	if c.client {
		fmt.Fprintf(w, "\n%s", clientOptionsHelp)
	}
}

func printGroup(w io.Writer, group string) {
	fmt.Fprintf(w, "signet %s: %s\n\nUsage:\n", group, groups[group])
	var subs []*command
	for i := range commands {
		if strings.HasPrefix(commands[i].name, group+" ") {
			subs = append(subs, &commands[i])
		}
	}
	for _, c := range subs {
		for _, s := range c.synopsis {
			fmt.Fprintf(w, "    signet %s\n", s)
		}
	}
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range subs {
		fmt.Fprintf(w, "    %-22s %s\n", strings.TrimPrefix(c.name, group+" "), c.summary)
	}
	fmt.Fprintln(w, "\nExamples:")
	n := 0
	for _, c := range subs {
		for _, e := range c.examples {
			if n < 2 {
				fmt.Fprintf(w, "    %s\n", e)
				n++
			}
			break
		}
	}
	if len(subs) == 1 {
		fmt.Fprintf(w, "    %s\n", subs[0].examples[1])
	}
	fmt.Fprintf(w, "\nRun 'signet %s COMMAND --help' for a command's flags.\n", group)
}

// printOverview prints what plain 'signet' shows: a line per command.
func printOverview(w io.Writer) {
	fmt.Fprintln(w, "Signet keeps release keys and signs for build pipelines.\n\nUsage: signet COMMAND [ARGS]\n\nCommands:")
	seen := map[string]bool{}
	for _, c := range commands {
		top, _, _ := strings.Cut(c.name, " ")
		if _, ok := groups[top]; ok {
			if !seen[top] {
				seen[top] = true
				fmt.Fprintf(w, "    %-18s %s\n", top, groups[top])
			}
			continue
		}
		fmt.Fprintf(w, "    %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nStart with:\n    signet serve --dev --data /tmp/sg >/tmp/sg.log 2>&1 &\n    . /tmp/sg/client.env\n    signet key create release --type ecdsa-p256\n    signet sign --key release FILE")
	fmt.Fprintln(w, "\nRun 'signet help COMMAND' (or 'signet COMMAND --help') for a command, 'signet help all' for the whole manual.")
}

// printVersion prints the module version, the commit and the Go version
// the binary was built from.
func printVersion(w io.Writer) {
	version, commit, when, modified := "(unknown)", "(unknown)", "", false
	goVersion := "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	if modified {
		commit += " (modified)"
	}
	if when != "" {
		commit += " from " + when
	}
	fmt.Fprintf(w, "signet %s\ncommit %s\n%s\n", version, commit, goVersion)
}
