package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/signet-dev/signet/format/authenticode/authenticodetest"
	"github.com/signet-dev/signet/internal/devpki"
)

// mkpe FILE [pe32plus] writes a small hand-made PE32 (or PE32+)
// executable.
func cmdMkPE(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "pe32plus" {
		ts.Fatalf("usage: mkpe FILE [pe32plus]")
	}
	pe := authenticodetest.MinimalPE(len(args) == 2, []byte{0x31, 0xc0, 0xc3}, []byte(args[0]))
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), pe, 0o755))
}

var (
	winExeOnce sync.Once
	winExe     []byte
	winExeErr  error
)

// winexe FILE writes a Windows program built by the Go toolchain
// (GOOS=windows), built once per test run.
func cmdWinExe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: winexe FILE")
	}
	winExeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signet-winexe-")
		if err != nil {
			winExeErr = err
			return
		}
		defer os.RemoveAll(dir)
		exe, err := authenticodetest.WindowsExe(dir)
		if err == nil {
			winExe, err = os.ReadFile(exe)
		}
		winExeErr = err
	})
	ts.Check(winExeErr)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), winExe, 0o755))
}

// issuecs CADIR CSR CHAIN acts as a code-signing CA: it creates the CA in
// CADIR (ca.pem, ca-key.pem) on first use, issues a code-signing
// certificate for the PEM request CSR, and writes the chain (certificate,
// then CA) to CHAIN.
func cmdIssueCodeSigning(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: issuecs CADIR CSR CHAIN")
	}
	issueFromCSR(ts, args, (*devpki.CA).IssueCodeSigning)
}

// issuets CADIR CSR CHAIN is issuecs for a time-stamping certificate
// (extended key usage timeStamping alone, critical), as a TSA key needs.
func cmdIssueTimeStamping(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: issuets CADIR CSR CHAIN")
	}
	issueFromCSR(ts, args, (*devpki.CA).IssueTimeStamping)
}

func issueFromCSR(ts *testscript.TestScript, args []string, issue func(*devpki.CA, []byte) (*x509.Certificate, error)) {
	dir := ts.MkAbs(args[0])
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	var ca *devpki.CA
	if certPEM, err := os.ReadFile(certFile); err == nil {
		keyPEM, err := os.ReadFile(keyFile)
		ts.Check(err)
		ca, err = devpki.ParseCA(certPEM, keyPEM)
		ts.Check(err)
	} else {
		ts.Check(os.MkdirAll(dir, 0o700))
		ca, err = devpki.NewCA("Code signing CA " + filepath.Base(dir))
		ts.Check(err)
		key, err := devpki.KeyPEM(ca.TLSCertificate())
		ts.Check(err)
		ts.Check(os.WriteFile(certFile, devpki.CertPEM(ca.TLSCertificate()), 0o644))
		ts.Check(os.WriteFile(keyFile, key, 0o600))
	}
	block, _ := pem.Decode([]byte(ts.ReadFile(args[1])))
	if block == nil {
		ts.Fatalf("%s: no PEM block", args[1])
	}
	leaf, err := issue(ca, block.Bytes)
	ts.Check(err)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), devpki.CertPEM(ca.TLSCertificate())...)
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), chain, 0o644))
}

// flipbyte FILE OFFSET inverts the byte at OFFSET (negative: from the
// end).
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	name := ts.MkAbs(args[0])
	b, err := os.ReadFile(name)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("offset %s outside the %d bytes of %s", args[1], len(b), args[0])
	}
	b[off] ^= 0xff
	ts.Check(os.WriteFile(name, b, 0o644))
}
