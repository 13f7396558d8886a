package main

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
)

// The mechanisms follow the server's raw format, which fixes the digest
// by key type (format/raw): P-256 signs SHA-256, P-384 SHA-384, RSA
// SHA-256 (PKCS #1 v1.5, or PSS with a salt as long as the digest), and
// Ed25519 the message itself. A mechanism asking for another digest with
// a key would be refused by the server, so it is refused here first.

// allMechanisms are the mechanisms of the slot.
var allMechanisms = []ulong{ckmECDSA, ckmECDSASHA256, ckmECDSASHA384, ckmRSAPKCS, ckmSHA256RSAPKCS, ckmRSAPKCSPSS, ckmSHA256RSAPKCSPSS, ckmEDDSA}

// mechanismInfo returns a mechanism's key sizes in bits, or false.
func mechanismInfo(m ulong) (lo, hi ulong, ok bool) {
	switch m {
	case ckmECDSA:
		return 256, 384, true
	case ckmECDSASHA256:
		return 256, 256, true
	case ckmECDSASHA384:
		return 384, 384, true
	case ckmRSAPKCS, ckmSHA256RSAPKCS, ckmRSAPKCSPSS, ckmSHA256RSAPKCSPSS:
		return 2048, 4096, true
	case ckmEDDSA:
		return 255, 255, true
	}
	return 0, 0, false
}

// mechanisms returns the mechanisms key ki signs with.
func (ki *keyInfo) mechanisms() []ulong {
	switch {
	case ki.keyType == ckkEC && ki.hash == crypto.SHA256:
		return []ulong{ckmECDSA, ckmECDSASHA256}
	case ki.keyType == ckkEC:
		return []ulong{ckmECDSA, ckmECDSASHA384}
	case ki.keyType == ckkRSA:
		return []ulong{ckmRSAPKCS, ckmSHA256RSAPKCS, ckmRSAPKCSPSS, ckmSHA256RSAPKCSPSS}
	}
	return []ulong{ckmEDDSA}
}

// maxInput bounds what a multi-part operation accumulates: a digest, a
// DigestInfo, or an Ed25519 message (which the server bounds too).
const maxInput = 16 << 20

// signOp is a signature operation in progress in one session.
type signOp struct {
	key  *keyInfo
	mech ulong
	pss  bool
	h    hash.Hash // for mechanisms that hash here; nil otherwise
	buf  bytes.Buffer
}

// newSignOp starts mechanism mech with ki; pssParams are the raw
// CK_RSA_PKCS_PSS_PARAMS (hashAlg, mgf, sLen) when given.
func newSignOp(ki *keyInfo, mech ulong, pssParams []ulong) (*signOp, ulong) {
	if _, _, ok := mechanismInfo(mech); !ok {
		return nil, ckrMechanismInvalid
	}
	if !slices.Contains(ki.mechanisms(), mech) {
		return nil, ckrKeyTypeInconsistent
	}
	op := &signOp{key: ki, mech: mech}
	switch mech {
	case ckmECDSASHA256, ckmSHA256RSAPKCS, ckmSHA256RSAPKCSPSS:
		op.h = sha256.New()
	case ckmECDSASHA384:
		op.h = sha512.New384()
	}
	if mech == ckmRSAPKCSPSS || mech == ckmSHA256RSAPKCSPSS {
		// The server signs PSS with SHA-256, MGF1-SHA-256 and a 32-byte
		// salt; other parameters would give signatures that verify
		// otherwise than the caller expects.
		if len(pssParams) != 3 || pssParams[0] != ckmSHA256 || pssParams[1] != ckgMGF1SHA256 || pssParams[2] != 32 {
			return nil, ckrMechanismParamInvalid
		}
		op.pss = true
	}
	return op, ckrOK
}

// update adds data to the operation.
func (op *signOp) update(data []byte) ulong {
	if op.h != nil {
		op.h.Write(data)
		return ckrOK
	}
	if op.buf.Len()+len(data) > maxInput {
		return ckrDataLenRange
	}
	op.buf.Write(data)
	return ckrOK
}

// request returns what the server signs for the operation: a digest
// ("ALG:HEX") or, for EdDSA, the message.
func (op *signOp) request() (digest []byte, message []byte, rv ulong) {
	ki := op.key
	switch {
	case op.mech == ckmEDDSA:
		return nil, bytes.Clone(op.buf.Bytes()), ckrOK
	case op.h != nil:
		return op.h.Sum(nil), nil, ckrOK
	case op.mech == ckmRSAPKCS:
		d, err := parseDigestInfo(op.buf.Bytes(), ki.hash)
		if err != nil {
			return nil, nil, ckrDataInvalid
		}
		return d, nil, ckrOK
	}
	// CKM_ECDSA and CKM_RSA_PKCS_PSS take the digest itself.
	if op.buf.Len() != ki.hash.Size() {
		return nil, nil, ckrDataLenRange
	}
	return bytes.Clone(op.buf.Bytes()), nil, ckrOK
}

// sha256DigestInfoPrefix is the DER DigestInfo of a SHA-256 digest, up to
// the digest (RFC 8017 section 9.2, note 1).
var sha256DigestInfoPrefix = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// parseDigestInfo returns the digest in a DER DigestInfo for h (SHA-256,
// the only digest the server's RSA keys sign).
func parseDigestInfo(b []byte, h crypto.Hash) ([]byte, error) {
	if h != crypto.SHA256 || len(b) != len(sha256DigestInfoPrefix)+32 || !bytes.HasPrefix(b, sha256DigestInfoPrefix) {
		return nil, errors.New("CKM_RSA_PKCS input is not a DigestInfo of a SHA-256 digest")
	}
	return bytes.Clone(b[len(sha256DigestInfoPrefix):]), nil
}

// toPKCS11 converts the server's raw signature to the mechanism's
// encoding: ECDSA signatures from ASN.1 DER to r||s, each as long as the
// curve's order.
func (op *signOp) toPKCS11(sig []byte) ([]byte, error) {
	if op.key.keyType != ckkEC {
		if len(sig) != op.key.sigLen {
			return nil, fmt.Errorf("signature of %d bytes, want %d", len(sig), op.key.sigLen)
		}
		return sig, nil
	}
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return nil, errors.New("ECDSA signature is not DER (r, s)")
	}
	n := op.key.sigLen / 2
	if len(rs.R.Bytes()) > n || len(rs.S.Bytes()) > n {
		return nil, errors.New("ECDSA signature values too large for the curve")
	}
	out := make([]byte, 2*n)
	rs.R.FillBytes(out[:n])
	rs.S.FillBytes(out[n:])
	return out, nil
}
