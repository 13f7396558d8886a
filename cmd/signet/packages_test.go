package main

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/internal/pkgtest"
)

// debsigdir ROOT CERT writes under ROOT the policy and keyring that make
// debsig-verify accept origin signatures by the key of CERT (a binary
// OpenPGP certificate, as 'signet key public NAME --format openpgp'
// prints it): ROOT/policies/FPR/signet.pol and ROOT/keyrings/FPR/origin.gpg.
func cmdDebsigDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: debsigdir ROOT CERT")
	}
	cert := []byte(ts.ReadFile(args[1]))
	ent, err := openpgp.ReadCertificate(cert)
	ts.Check(err)
	fpr := upperHex(ent.PrimaryKey.Fingerprint)
	root := ts.MkAbs(args[0])
	for _, d := range []string{"policies", "keyrings"} {
		ts.Check(os.MkdirAll(filepath.Join(root, d, fpr), 0o755))
	}
	ts.Check(os.WriteFile(filepath.Join(root, "keyrings", fpr, "origin.gpg"), cert, 0o644))
	ts.Check(os.WriteFile(filepath.Join(root, "policies", fpr, "signet.pol"), []byte(pkgtest.Policy(fpr)), 0o644))
}

func upperHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
