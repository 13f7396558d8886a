package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/signet-dev/signet/format/dsse"
)

// dsseverify ENVELOPE PUBLIC.pem PREDICATE-TYPE FILE... checks an in-toto
// attestation as cosign verify-blob-attestation --key does: the DSSE
// signature with go-securesystemslib's own verifier for the PEM key, the
// payload type, the predicate type, and that the subjects are exactly the
// files, by name and SHA-256.
func cmdDSSEVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 4 {
		ts.Fatalf("usage: dsseverify ENVELOPE PUBLIC.pem PREDICATE-TYPE FILE...")
	}
	err := dsseVerify(ts, args[0], args[1], args[2], args[3:])
	switch {
	case err != nil && !neg:
		ts.Fatalf("%v", err)
	case err == nil && neg:
		ts.Fatalf("attestation verified")
	case err != nil:
		ts.Logf("dsseverify: %v", err)
	}
}

func dsseVerify(ts *testscript.TestScript, envFile, pubFile, predicateType string, files []string) error {
	var env ssldsse.Envelope
	if err := json.Unmarshal([]byte(ts.ReadFile(envFile)), &env); err != nil {
		return err
	}
	key, err := signerverifier.LoadKey([]byte(ts.ReadFile(pubFile)))
	if err != nil {
		return err
	}
	// Without a key id of its own, the verifier matches envelopes by the
	// key's SHA256KeyID, as cosign's does.
	key.KeyID = ""
	var v ssldsse.Verifier
	switch key.KeyType {
	case signerverifier.ECDSAKeyType:
		v, err = signerverifier.NewECDSASignerVerifierFromSSLibKey(key)
	case signerverifier.ED25519KeyType:
		v, err = signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	default:
		return fmt.Errorf("dsseverify: key type %s", key.KeyType)
	}
	if err != nil {
		return err
	}
	ev, err := ssldsse.NewEnvelopeVerifier(v)
	if err != nil {
		return err
	}
	_, payload, err := ev.VerifyAndDecode(context.Background(), &env)
	if err != nil {
		return err
	}
	if env.PayloadType != dsse.PayloadType {
		return fmt.Errorf("payloadType %q", env.PayloadType)
	}
	var st dsse.Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return err
	}
	if st.Type != dsse.StatementV1 || st.PredicateType != predicateType || len(st.Subject) != len(files) {
		return fmt.Errorf("statement %s", payload)
	}
	for i, f := range files {
		b, err := os.ReadFile(ts.MkAbs(f))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		if s := st.Subject[i]; s.Name != filepath.Base(f) || s.Digest["sha256"] != hex.EncodeToString(sum[:]) {
			return fmt.Errorf("subject %d is %s %v, not %s sha256:%x", i+1, s.Name, s.Digest, f, sum)
		}
	}
	return nil
}
