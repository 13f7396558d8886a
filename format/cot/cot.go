// Package cot produces chain-of-trust signatures: the detached
// public/chain-of-trust.json.sig that Taskcluster workers publish beside
// public/chain-of-trust.json, and that scriptworker and 'signet cot verify'
// check.
//
// The signature is raw Ed25519 (RFC 8032, pure, 64 bytes) over the exact
// bytes of the document, with no envelope and no prehash: whatever the
// worker wrote, byte for byte, is what is signed, so the document must be
// signed after it is written and never re-serialized afterwards.
//
// Sign refuses anything that is not a chain-of-trust document (version 1,
// with a task id, a task and artifact digests; see package
// github.com/signet-dev/signet/cot), so that a key kept for chain of trust
// signs nothing else. It does not check that the artifacts exist or that the
// digests are right: only the worker that produced them can.
package cot

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	chain "github.com/signet-dev/signet/cot"
)

// MaxDocumentBytes is the largest document Sign accepts.
const MaxDocumentBytes = chain.MaxDocumentBytes

// ErrVerify is returned by Verify when a signature does not verify.
var ErrVerify = errors.New("chain-of-trust signature does not verify")

// Info identifies a document, for audit records.
type Info struct {
	TaskID      string
	RunID       int64
	WorkerGroup string
	WorkerID    string
	Artifacts   int
}

// Check parses doc as a chain-of-trust document.
func Check(doc []byte) (*Info, error) {
	d, err := chain.ParseDocument(doc)
	if err != nil {
		return nil, err
	}
	return &Info{TaskID: d.TaskID, RunID: d.RunID, WorkerGroup: d.WorkerGroup, WorkerID: d.WorkerID, Artifacts: len(d.Artifacts)}, nil
}

// Sign checks doc and signs its exact bytes with s, which must be an
// Ed25519 key.
func Sign(s crypto.Signer, doc []byte) ([]byte, *Info, error) {
	if _, ok := s.Public().(ed25519.PublicKey); !ok {
		return nil, nil, fmt.Errorf("cot: chain-of-trust signatures are Ed25519; the key is %T", s.Public())
	}
	info, err := Check(doc)
	if err != nil {
		return nil, nil, err
	}
	sig, err := s.Sign(rand.Reader, doc, crypto.Hash(0))
	if err != nil {
		return nil, nil, fmt.Errorf("cot: signing: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("cot: the signer returned %d bytes, not an Ed25519 signature", len(sig))
	}
	return sig, info, nil
}

// Verify checks sig over the exact bytes of doc.
func Verify(pub ed25519.PublicKey, doc, sig []byte) error {
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, doc, sig) {
		return ErrVerify
	}
	return nil
}
