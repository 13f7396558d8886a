package main

import (
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

// graphs are the task graphs of running scripts, by $WORK.
var graphs sync.Map

// cotgraph [-style S] [-break WHAT] serves a generated task graph (see
// package cottest) as a Queue on loopback until the script ends. It sets
// QUEUE, an id variable per role (DECISION, DOCKER_IMAGE, BUILD_LINUX,
// BUILD_WINDOWS, SIGNING, BEETMOVER), writes trust.yaml, and writes each
// role's document, as its worker would sign it, to cot/ROLE.json.
// -break hash serves other bytes for the Windows build's target.zip.
func cmdCoTGraph(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("cotgraph", flag.ContinueOnError)
	style := fs.String("style", "", "")
	brk := fs.String("break", "", "")
	if neg || fs.Parse(args) != nil || fs.NArg() != 0 {
		ts.Fatalf("usage: cotgraph [-style S] [-break hash]")
	}
	g := cottest.New(cottest.Options{Style: *style})
	switch *brk {
	case "":
	case "hash":
		g.SetServed(g.ByRole["build-windows"].ID, "public/build/target.zip", &cottest.Served{Data: []byte("trojan\n")})
	default:
		ts.Fatalf("cotgraph: unknown -break %q", *brk)
	}
	srv := httptest.NewServer(g.Handler)
	ts.Defer(srv.Close)
	graphs.Store(ts.Getenv("WORK"), g)
	ts.Setenv("QUEUE", srv.URL)
	ts.Check(os.MkdirAll(ts.MkAbs("cot"), 0o755))
	for role, t := range g.ByRole {
		ts.Setenv(strings.ToUpper(strings.ReplaceAll(role, "-", "_")), t.ID)
		ts.Check(os.WriteFile(ts.MkAbs(filepath.Join("cot", role+".json")), g.ServedData(t.ID, "public/chain-of-trust.json"), 0o644))
	}
	ts.Check(os.WriteFile(ts.MkAbs("trust.yaml"), []byte(g.TrustYAML()), 0o644))
}

// cotuse ROLE DOC SIG PEM makes the graph serve DOC and SIG as ROLE's
// chain-of-trust document and signature, and adds the PEM public key to
// the keys trust.yaml trusts for ROLE's worker implementation.
func cmdCoTUse(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: cotuse ROLE DOC SIG PEM")
	}
	v, ok := graphs.Load(ts.Getenv("WORK"))
	if !ok {
		ts.Fatalf("cotuse: run cotgraph first")
	}
	g := v.(*cottest.Graph)
	t := g.ByRole[args[0]]
	if t == nil {
		ts.Fatalf("cotuse: no role %q", args[0])
	}
	doc, sig := ts.ReadFile(args[1]), ts.ReadFile(args[2])
	g.SetServed(t.ID, "public/chain-of-trust.json", &cottest.Served{Data: []byte(doc), Gzip: true})
	g.SetServed(t.ID, "public/chain-of-trust.json.sig", &cottest.Served{Data: []byte(sig)})
	pub, err := cot.ParsePublicKey(ts.ReadFile(args[3]))
	ts.Check(err)
	trust := ts.ReadFile("trust.yaml")
	line := "  " + t.Impl + ":\n"
	i := strings.Index(trust, line)
	if i < 0 {
		ts.Fatalf("cotuse: trust.yaml has no keys for %s", t.Impl)
	}
	i += len(line)
	trust = trust[:i] + "    - " + cottest.KeyBase64Public(pub) + "\n" + trust[i:]
	ts.Check(os.WriteFile(ts.MkAbs("trust.yaml"), []byte(trust), 0o644))
}
