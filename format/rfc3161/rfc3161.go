// Package rfc3161 is Signet's time-stamp authority: it reads RFC 3161
// time-stamp requests, answers them with time-stamp tokens signed by a
// TSA key, and, on the client's side, builds requests and checks replies.
//
// # Format
//
// A client hashes what it wants dated and sends a TimeStampReq (RFC 3161
// section 2.4.1), DER, as application/timestamp-query:
//
//	TimeStampReq ::= SEQUENCE {
//	    version         INTEGER { v1(1) },
//	    messageImprint  SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING },
//	    reqPolicy       OBJECT IDENTIFIER OPTIONAL,
//	    nonce           INTEGER OPTIONAL,
//	    certReq         BOOLEAN DEFAULT FALSE,
//	    extensions      [0] IMPLICIT Extensions OPTIONAL }
//
// The authority answers with a TimeStampResp (application/timestamp-reply):
// a PKIStatusInfo and, when granted, a TimeStampToken — a CMS SignedData
// (RFC 5652) whose content, of type id-ct-TSTInfo, holds the policy, the
// message imprint copied from the request, a serial number, the time,
// the accuracy and the nonce. The signer's signed attributes carry an
// ESS signingCertificateV2 (RFC 5816) naming the TSA certificate, and the
// certificates field holds the chain when the request asked for it
// (certReq). Tokens are made with github.com/digitorus/timestamp.
//
// # What it guarantees
//
// [ParseQuery] reads strictly DER, version 1 requests for SHA-256,
// SHA-384 or SHA-512 imprints of the right length, without extensions,
// with a non-negative nonce of at most 512 bits; anything else is a
// [*Failure] carrying the PKIFailureInfo bit RFC 3161 prescribes (badAlg,
// badDataFormat, unacceptedExtension, unacceptedPolicy), which
// [Rejection] turns into a rejection reply. [Authority.Stamp] issues a
// token only for a parsed query, copies its nonce, and answers only
// under the authority's own policy. [CheckReply] checks a reply against
// the query it answers: granted, same imprint, same nonce, and the
// token's signature by the certificate it names.
//
// It does not decide whether a TSA certificate is trusted (the verifier's
// trust store does), keep time (the caller passes it: Signet's server
// clock), or make serial numbers that are sequential: they are 160 random
// bits, unique with overwhelming probability, as RFC 3161 allows.
package rfc3161

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/digitorus/pkcs7"
	dts "github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Media types of the RFC 3161 HTTP transport (section 3.4).
const (
	QueryType = "application/timestamp-query"
	ReplyType = "application/timestamp-reply"
)

// MaxQuerySize bounds ParseQuery's input: a SHA-512 request with a
// 512-bit nonce and a policy is under 200 bytes.
const MaxQuerySize = 4 << 10

// MaxNonceBits bounds a request's nonce.
const MaxNonceBits = 512

// FailureInfo is a PKIFailureInfo bit (RFC 3161 section 2.4.2).
type FailureInfo int

const (
	BadAlg              FailureInfo = 0  // unrecognized or unsupported algorithm
	BadRequest          FailureInfo = 2  // transaction not permitted or supported
	BadDataFormat       FailureInfo = 5  // the data submitted has the wrong format
	TimeNotAvailable    FailureInfo = 14 // the TSA's time source is not available
	UnacceptedPolicy    FailureInfo = 15 // the requested TSA policy is not supported
	UnacceptedExtension FailureInfo = 16 // the requested extension is not supported
	SystemFailure       FailureInfo = 25 // the request cannot be handled due to system failure
)

func (f FailureInfo) String() string {
	switch f {
	case BadAlg:
		return "badAlg"
	case BadRequest:
		return "badRequest"
	case BadDataFormat:
		return "badDataFormat"
	case TimeNotAvailable:
		return "timeNotAvailable"
	case UnacceptedPolicy:
		return "unacceptedPolicy"
	case UnacceptedExtension:
		return "unacceptedExtension"
	case SystemFailure:
		return "systemFailure"
	}
	return fmt.Sprintf("failure bit %d", int(f))
}

// Failure is why a request is rejected.
type Failure struct {
	Info FailureInfo
	Text string // what went wrong and what to do, for the statusString
}

func (f *Failure) Error() string {
	return fmt.Sprintf("time-stamp request rejected (%s): %s", f.Info, f.Text)
}

func fail(info FailureInfo, format string, args ...any) *Failure {
	return &Failure{Info: info, Text: fmt.Sprintf(format, args...)}
}

var hashOIDs = map[string]crypto.Hash{
	"2.16.840.1.101.3.4.2.1": crypto.SHA256,
	"2.16.840.1.101.3.4.2.2": crypto.SHA384,
	"2.16.840.1.101.3.4.2.3": crypto.SHA512,
}

// knownWeak names hash algorithms refused by name, so the message says
// more than "unknown".
var knownWeak = map[string]string{
	"1.3.14.3.2.26":          "SHA-1",
	"1.2.840.113549.2.5":     "MD5",
	"2.16.840.1.101.3.4.2.4": "SHA-224",
}

// Query is a checked time-stamp request.
type Query struct {
	Hash    crypto.Hash           // of the imprint: SHA-256, SHA-384 or SHA-512
	Digest  []byte                // the hashed message
	Policy  asn1.ObjectIdentifier // requested TSA policy, or nil
	Nonce   *big.Int              // or nil
	CertReq bool                  // the reply should carry the TSA's certificates
}

// ParseQuery reads a DER TimeStampReq (see the package documentation).
// Its errors are *Failure.
func ParseQuery(der []byte) (*Query, error) {
	if len(der) > MaxQuerySize {
		return nil, fail(BadDataFormat, "request is %d bytes; a time-stamp request is a few hundred at most", len(der))
	}
	s := cryptobyte.String(der)
	var req, imprint, alg cryptobyte.String
	var version int64
	if !s.ReadASN1(&req, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, fail(BadDataFormat, "not a DER TimeStampReq (send %s as made by 'openssl ts -query')", QueryType)
	}
	if !req.ReadASN1Integer(&version) || version != 1 {
		return nil, fail(BadDataFormat, "TimeStampReq version is not 1")
	}
	var oid asn1.ObjectIdentifier
	q := &Query{}
	if !req.ReadASN1(&imprint, cbasn1.SEQUENCE) || !imprint.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, fail(BadDataFormat, "messageImprint is not a SEQUENCE of an AlgorithmIdentifier and an OCTET STRING")
	}
	if alg.PeekASN1Tag(cbasn1.NULL) {
		alg.SkipASN1(cbasn1.NULL)
	}
	if !alg.Empty() {
		return nil, fail(BadDataFormat, "hash algorithm %s has parameters other than NULL", oid)
	}
	h, ok := hashOIDs[oid.String()]
	if !ok {
		name := oid.String()
		if n, weak := knownWeak[name]; weak {
			name = n
		}
		return nil, fail(BadAlg, "hash algorithm %s is not accepted; hash with SHA-256, SHA-384 or SHA-512 (openssl ts -query -sha256)", name)
	}
	q.Hash = h
	var digest []byte
	if !imprint.ReadASN1Bytes(&digest, cbasn1.OCTET_STRING) || !imprint.Empty() {
		return nil, fail(BadDataFormat, "messageImprint has no hashedMessage OCTET STRING, or data after it")
	}
	if len(digest) != h.Size() {
		return nil, fail(BadDataFormat, "hashedMessage is %d bytes; a %s digest is %d", len(digest), h, h.Size())
	}
	q.Digest = bytes.Clone(digest)
	if req.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		if !req.ReadASN1ObjectIdentifier(&q.Policy) {
			return nil, fail(BadDataFormat, "reqPolicy is not an OBJECT IDENTIFIER")
		}
	}
	if req.PeekASN1Tag(cbasn1.INTEGER) {
		q.Nonce = new(big.Int)
		if !req.ReadASN1Integer(q.Nonce) {
			return nil, fail(BadDataFormat, "nonce is not a DER INTEGER")
		}
		if q.Nonce.Sign() < 0 || q.Nonce.BitLen() > MaxNonceBits {
			return nil, fail(BadDataFormat, "nonce must be a non-negative integer of at most %d bits", MaxNonceBits)
		}
	}
	if req.PeekASN1Tag(cbasn1.BOOLEAN) {
		if !req.ReadASN1Boolean(&q.CertReq) {
			return nil, fail(BadDataFormat, "certReq is not a DER BOOLEAN")
		}
		if !q.CertReq {
			// DER leaves out a value equal to its DEFAULT.
			return nil, fail(BadDataFormat, "certReq FALSE is encoded; DER leaves out a default value")
		}
	}
	if req.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, fail(UnacceptedExtension, "this authority accepts no request extensions; send the request without them")
	}
	if !req.Empty() {
		return nil, fail(BadDataFormat, "TimeStampReq has unexpected fields after the message imprint")
	}
	return q, nil
}

// Marshal returns q as a DER TimeStampReq.
func (q *Query) Marshal() ([]byte, error) {
	if _, ok := hashOID(q.Hash); !ok || len(q.Digest) != q.Hash.Size() {
		return nil, fmt.Errorf("time-stamp request: a %d-byte %v digest cannot be time-stamped; use SHA-256, SHA-384 or SHA-512", len(q.Digest), q.Hash)
	}
	if q.Nonce != nil && (q.Nonce.Sign() < 0 || q.Nonce.BitLen() > MaxNonceBits) {
		return nil, errors.New("time-stamp request: nonce out of range")
	}
	r := dts.Request{HashAlgorithm: q.Hash, HashedMessage: q.Digest, Certificates: q.CertReq, TSAPolicyOID: q.Policy, Nonce: q.Nonce}
	return r.Marshal()
}

func hashOID(h crypto.Hash) (string, bool) {
	for oid, hh := range hashOIDs {
		if hh == h {
			return oid, true
		}
	}
	return "", false
}

// NewNonce returns a random 64-bit nonce, as openssl ts -query makes.
func NewNonce() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

// Authority issues tokens.
type Authority struct {
	Signer   crypto.Signer         // the TSA key: RSA, or ECDSA P-256 or P-384
	Chain    []*x509.Certificate   // Signer's certificate first, then its issuers
	Policy   asn1.ObjectIdentifier // the TSA policy every token is issued under
	Accuracy time.Duration         // 0: none stated
}

// Token is an issued time-stamp token.
type Token struct {
	Reply  []byte   // DER TimeStampResp, status granted
	Token  []byte   // DER TimeStampToken (the ContentInfo inside Reply)
	Serial *big.Int // of the token
	Time   time.Time
}

// SignerHash is the digest a TSA key signs its tokens' attributes with:
// SHA-384 for P-384, SHA-256 otherwise.
func SignerHash(pub crypto.PublicKey) (crypto.Hash, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return crypto.SHA256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, nil
		case elliptic.P384():
			return crypto.SHA384, nil
		}
	}
	return 0, fmt.Errorf("a %T key cannot sign time-stamp tokens; use RSA or ECDSA P-256/P-384", pub)
}

// Stamp issues a token for q at time now.
func (a *Authority) Stamp(q *Query, now time.Time) (*Token, error) {
	if len(a.Chain) == 0 {
		return nil, errors.New("time-stamp authority has no certificate")
	}
	if len(a.Policy) == 0 {
		return nil, errors.New("time-stamp authority has no policy")
	}
	if q.Policy != nil && !q.Policy.Equal(a.Policy) {
		return nil, fail(UnacceptedPolicy, "policy %s was requested; this authority issues tokens under policy %s only", q.Policy, a.Policy)
	}
	h, err := SignerHash(a.Signer.Public())
	if err != nil {
		return nil, err
	}
	t := dts.Timestamp{
		HashAlgorithm:     q.Hash,
		HashedMessage:     q.Digest,
		Time:              now.UTC().Truncate(time.Second),
		Accuracy:          a.Accuracy,
		Policy:            a.Policy,
		Nonce:             q.Nonce,
		AddTSACertificate: q.CertReq,
	}
	if q.CertReq {
		t.Certificates = a.Chain[1:]
	}
	reply, err := t.CreateResponseWithOpts(a.Chain[0], a.Signer, h)
	if err != nil {
		return nil, fmt.Errorf("issuing time-stamp token: %w", err)
	}
	// Read back what was issued: the serial and time to record, and a
	// check that the token is what the query asked for.
	token, info, err := parseReply(reply)
	if err != nil {
		return nil, fmt.Errorf("issued time-stamp token does not parse: %w", err)
	}
	if err := matches(info, q); err != nil {
		return nil, fmt.Errorf("issued time-stamp token: %w", err)
	}
	if err := checkSignature(token, a.Chain[0]); err != nil {
		return nil, fmt.Errorf("issued time-stamp token: %w", err)
	}
	return &Token{Reply: reply, Token: token, Serial: info.SerialNumber, Time: info.Time}, nil
}

// Rejection returns the DER TimeStampResp rejecting a request for f.
func Rejection(f *Failure) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // TimeStampResp
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PKIStatusInfo
			b.AddASN1Int64(2)                                        // rejection
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PKIFreeText
				b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(f.Text)) })
			})
			// PKIFailureInfo: a named BIT STRING, DER without trailing zero bits.
			bit := int(f.Info)
			bits := make([]byte, bit/8+1)
			bits[bit/8] = 0x80 >> (bit % 8)
			b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
				b.AddUint8(uint8(7 - bit%8))
				b.AddBytes(bits)
			})
		})
	})
	return b.BytesOrPanic()
}

// Stamped is a checked reply's token.
type Stamped struct {
	Token       []byte // DER TimeStampToken
	Time        time.Time
	Serial      *big.Int
	Policy      asn1.ObjectIdentifier
	Certificate *x509.Certificate // the TSA certificate that signed it
}

// CheckReply checks reply, a DER TimeStampResp, against q: granted, for
// q's imprint and nonce, signed by the certificate the token names (from
// the token's certificates, or else from certs). It does not decide
// whether that certificate is trusted.
func CheckReply(reply []byte, q *Query, certs []*x509.Certificate) (*Stamped, error) {
	token, info, err := parseReply(reply)
	if err != nil {
		return nil, err
	}
	if err := matches(info, q); err != nil {
		return nil, err
	}
	pool := append(append([]*x509.Certificate{}, info.Certificates...), certs...)
	var signer *x509.Certificate
	for _, c := range pool {
		if checkSignature(token, c) == nil {
			signer = c
			break
		}
	}
	if signer == nil {
		return nil, errors.New("time-stamp token is not signed by any certificate it carries or that was given (ask for certificates with certReq, or give the TSA's certificate)")
	}
	return &Stamped{Token: token, Time: info.Time, Serial: info.SerialNumber, Policy: info.Policy, Certificate: signer}, nil
}

// parseReply reads a granted TimeStampResp: its token, and the token's
// TSTInfo.
func parseReply(reply []byte) ([]byte, *dts.Timestamp, error) {
	s := cryptobyte.String(reply)
	var resp, status, token cryptobyte.String
	var code int64
	if !s.ReadASN1(&resp, cbasn1.SEQUENCE) || !s.Empty() || !resp.ReadASN1(&status, cbasn1.SEQUENCE) || !status.ReadASN1Integer(&code) {
		return nil, nil, errors.New("time-stamp reply is not a DER TimeStampResp")
	}
	if code != 0 && code != 1 { // granted, grantedWithMods
		text := ""
		var free, str cryptobyte.String
		if status.ReadASN1(&free, cbasn1.SEQUENCE) && free.ReadASN1(&str, cbasn1.UTF8String) {
			text = ": " + string(str)
		}
		return nil, nil, fmt.Errorf("time-stamp authority refused (status %d)%s", code, text)
	}
	if !resp.ReadASN1Element(&token, cbasn1.SEQUENCE) || !resp.Empty() {
		return nil, nil, errors.New("time-stamp reply is granted but holds no token")
	}
	// dts.Parse checks the CMS signature when the token carries
	// certificates; checkSignature does it in every case.
	info, err := dts.Parse(token)
	if err != nil {
		return nil, nil, fmt.Errorf("time-stamp token: %w", err)
	}
	return bytes.Clone(token), info, nil
}

// matches reports how info differs from what q asked for.
func matches(info *dts.Timestamp, q *Query) error {
	switch {
	case info.HashAlgorithm != q.Hash || !bytes.Equal(info.HashedMessage, q.Digest):
		return errors.New("time-stamp token is for another message imprint than the one sent")
	case (q.Nonce == nil) != (info.Nonce == nil) || q.Nonce != nil && q.Nonce.Cmp(info.Nonce) != 0:
		return errors.New("time-stamp token's nonce is not the one sent: a replayed or mixed-up reply")
	case q.Policy != nil && !q.Policy.Equal(info.Policy):
		return fmt.Errorf("time-stamp token is under policy %s, not the %s requested", info.Policy, q.Policy)
	}
	return nil
}

// checkSignature checks that cert's key made the CMS signature of token
// (cert is looked up by the signer's issuer and serial number, so a token
// naming another certificate fails).
func checkSignature(token []byte, cert *x509.Certificate) error {
	p7, err := pkcs7.Parse(token)
	if err != nil {
		return fmt.Errorf("time-stamp token: %w", err)
	}
	p7.Certificates = []*x509.Certificate{cert}
	if err := p7.Verify(); err != nil {
		return fmt.Errorf("time-stamp token signature: %w", err)
	}
	return nil
}

// DefaultPolicy is the TSA policy of tokens when none is configured: an
// arc of the documentation enterprise number (RFC 5612). Operators set
// their own organisation's policy OID.
var DefaultPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3161, 1}

// ParsePolicy parses a dotted object identifier such as "1.2.3.4".
func ParsePolicy(s string) (asn1.ObjectIdentifier, error) {
	bad := fmt.Errorf("policy %q is not a dotted object identifier such as 1.3.6.1.4.1.32473.1", s)
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 64 {
		return nil, bad
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil || p == "" || p[0] == '+' || len(p) > 1 && p[0] == '0' {
			return nil, bad
		}
		oid[i] = int(n)
	}
	if oid[0] > 2 || oid[0] < 2 && oid[1] > 39 {
		return nil, bad
	}
	return oid, nil
}
