package authenticode

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignOptions vary a signature.
type SignOptions struct {
	// Time is written as the signingTime attribute, unless zero.
	Time time.Time
}

// Sign signs the SpcIndirectDataContent indirect (which must be exactly
// what NewIndirectData builds) with signer, whose certificate is chain[0],
// and returns the DER ContentInfo of the PKCS #7 SignedData with the chain
// as its certificates. The signer must be an RSA or an ECDSA P-256 or
// P-384 key; chain[0] must certify its public key.
func Sign(signer crypto.Signer, chain []*x509.Certificate, indirect []byte, o SignOptions) ([]byte, error) {
	if _, err := ParseIndirectData(indirect); err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, errors.New("authenticode: no certificate for the signer")
	}
	leaf := chain[0]
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("authenticode: certificate %q is not for the signing key", leaf.Subject)
	}
	sigAlg, err := signatureAlgorithm(signer.Public())
	if err != nil {
		return nil, err
	}
	attrs := signedAttributes(indirect, o)
	tbs := sha256.Sum256(attributeSet(cbasn1.SET, attrs))
	sig, err := signer.Sign(rand.Reader, tbs[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("authenticode: signing: %w", err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(cbasn1.SET, addSHA256)
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidSPCIndirectData)
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddBytes(indirect)
					})
				})
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					for _, c := range chain {
						b.AddBytes(c.Raw)
					}
				})
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignerInfo
						b.AddASN1Int64(1)
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(leaf.RawIssuer)
							b.AddASN1BigInt(leaf.SerialNumber)
						})
						addSHA256(b)
						b.AddBytes(attributeSet(cbasn1.Tag(0).Constructed().ContextSpecific(), attrs))
						b.AddBytes(sigAlg)
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return b.Bytes()
}

// signatureAlgorithm returns the DER digestEncryptionAlgorithm for pub.
func signatureAlgorithm(pub crypto.PublicKey) ([]byte, error) {
	var b cryptobyte.Builder
	switch k := pub.(type) {
	case *rsa.PublicKey:
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidRSAEncryption)
			b.AddASN1NULL()
		})
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("authenticode: ECDSA curve %s is not supported; use P-256 or P-384", k.Curve.Params().Name)
		}
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidECDSAWithSHA256)
		})
	default:
		return nil, fmt.Errorf("authenticode: a %T key cannot sign; use RSA or ECDSA P-256/P-384", pub)
	}
	return b.Bytes()
}

// signedAttributes returns the DER Attributes signed, in DER SET OF
// order.
func signedAttributes(indirect []byte, o SignOptions) [][]byte {
	attr := func(oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) []byte {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(cbasn1.SET, value)
		})
		return b.BytesOrPanic()
	}
	md := sha256.Sum256(contentOctets(indirect))
	attrs := [][]byte{
		attr(oidContentType, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSPCIndirectData) }),
		attr(oidMessageDigest, func(b *cryptobyte.Builder) { b.AddASN1OctetString(md[:]) }),
		attr(oidSPCStatementType, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSPCIndividualSign) })
		}),
		attr(oidSPCSpOpusInfo, func(b *cryptobyte.Builder) { b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {}) }),
	}
	if !o.Time.IsZero() {
		t := o.Time.UTC().Truncate(time.Second)
		attrs = append(attrs, attr(oidSigningTime, func(b *cryptobyte.Builder) {
			// RFC 5652: UTCTime for 1950 to 2049, GeneralizedTime otherwise.
			if t.Year() >= 1950 && t.Year() < 2050 {
				b.AddASN1UTCTime(t)
			} else {
				b.AddASN1GeneralizedTime(t)
			}
		}))
	}
	slices.SortFunc(attrs, bytes.Compare)
	return attrs
}

// attributeSet encodes attrs under tag: SET for the bytes that are
// signed, [0] IMPLICIT where they are stored in the SignerInfo.
func attributeSet(tag cbasn1.Tag, attrs [][]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(tag, func(b *cryptobyte.Builder) {
		for _, a := range attrs {
			b.AddBytes(a)
		}
	})
	return b.BytesOrPanic()
}

// contentOctets returns the contents of a DER element, without its tag
// and length: Authenticode's messageDigest covers only those.
func contentOctets(der []byte) []byte {
	s := cryptobyte.String(der)
	var out cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&out, &tag) {
		return nil
	}
	return out
}

// Signature is a parsed Authenticode SignedData as Sign writes it.
type Signature struct {
	Digest       []byte              // the PE image's SHA-256 Authenticode digest
	Certificates []*x509.Certificate // as stored, leaf first
	Signer       *x509.Certificate   // the certificate of the signing key
	SigningTime  time.Time           // zero if absent
	// Timestamp is the DER TimeStampToken of the RFC 3161 countersignature
	// (an unauthenticated attribute), or nil. ParseSignature does not
	// check it: osslsigncode verify and Windows do, against their TSA
	// trust stores.
	Timestamp []byte

	indirect      []byte // the SpcIndirectDataContent
	messageDigest []byte
	signedAttrs   []byte // DER SET OF the authenticated attributes
	sigAlg        asn1.ObjectIdentifier
	sig           []byte
}

// ParseSignature parses the DER ContentInfo of an Authenticode SignedData
// of a PE image, strictly: version 1 structures, SHA-256 only, one signer
// whose certificate is included, the authenticated attributes Sign writes
// and no others, no CRLs, and no unauthenticated attributes (so no
// PKCS #9 countersignatures or nested signatures) but one RFC 3161
// countersignature, which AddTimestamp adds. It checks no signature: see
// Verify.
func ParseSignature(der []byte) (*Signature, error) {
	if len(der) > maxSignatureSize {
		return nil, fmt.Errorf("authenticode signature is %d bytes; the limit is %d", len(der), maxSignatureSize)
	}
	bad := func(what string) (*Signature, error) {
		return nil, fmt.Errorf("authenticode signature: %s", what)
	}
	s := cryptobyte.String(der)
	var ci, explicit, sd cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) || !s.Empty() ||
		!ci.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSignedData) ||
		!ci.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ci.Empty() ||
		!explicit.ReadASN1(&sd, cbasn1.SEQUENCE) || !explicit.Empty() {
		return bad("not a DER PKCS #7 SignedData ContentInfo")
	}
	var version int64
	var digestAlgs, content, certs, signerInfos cryptobyte.String
	if !sd.ReadASN1Integer(&version) || version != 1 {
		return bad("SignedData version is not 1")
	}
	if !sd.ReadASN1(&digestAlgs, cbasn1.SET) || !readSHA256(&digestAlgs) || !digestAlgs.Empty() {
		return bad("digestAlgorithms is not {sha256}")
	}
	if !sd.ReadASN1(&content, cbasn1.SEQUENCE) || !content.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSPCIndirectData) ||
		!content.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) || !content.Empty() {
		return bad("content is not SPC_INDIRECT_DATA")
	}
	out := &Signature{indirect: bytes.Clone(explicit)}
	var err error
	if out.Digest, err = ParseIndirectData(out.indirect); err != nil {
		return nil, fmt.Errorf("authenticode signature: %w", err)
	}
	if !sd.ReadASN1(&certs, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return bad("no certificates")
	}
	for !certs.Empty() {
		var raw cryptobyte.String
		if !certs.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
			return bad("certificates: not a SET OF Certificate")
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("authenticode signature: certificate %d: %w", len(out.Certificates)+1, err)
		}
		out.Certificates = append(out.Certificates, c)
	}
	if !sd.ReadASN1(&signerInfos, cbasn1.SET) || !sd.Empty() {
		return bad("CRLs or data after the certificates, or no signerInfos")
	}
	var si, ias, issuer, attrs, alg cryptobyte.String
	serial := new(big.Int)
	if !signerInfos.ReadASN1(&si, cbasn1.SEQUENCE) || !signerInfos.Empty() {
		return bad("not exactly one signer")
	}
	if !si.ReadASN1Integer(&version) || version != 1 ||
		!si.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&issuer, cbasn1.SEQUENCE) || !ias.ReadASN1Integer(serial) || !ias.Empty() ||
		!readSHA256(&si) {
		return bad("SignerInfo is not version 1 with an issuer and serial number and digest algorithm sha256")
	}
	if !si.ReadASN1Element(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!si.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&out.sigAlg) ||
		!si.ReadASN1Bytes(&out.sig, cbasn1.OCTET_STRING) {
		return bad("SignerInfo lacks authenticated attributes")
	}
	if si.PeekASN1Tag(cbasn1.Tag(1).Constructed().ContextSpecific()) {
		var unsigned cryptobyte.String
		if !si.ReadASN1(&unsigned, cbasn1.Tag(1).Constructed().ContextSpecific()) {
			return bad("bad unauthenticated attributes")
		}
		ts, err := parseTimestampAttribute(unsigned)
		if err != nil {
			return nil, fmt.Errorf("authenticode signature: %w", err)
		}
		out.Timestamp = ts
	}
	if !si.Empty() {
		return bad("data after the SignerInfo's signature")
	}
	switch {
	case out.sigAlg.Equal(oidRSAEncryption):
		if !alg.SkipASN1(cbasn1.NULL) || !alg.Empty() {
			return bad("rsaEncryption parameters are not NULL")
		}
	case out.sigAlg.Equal(oidECDSAWithSHA256):
		if !alg.Empty() {
			return bad("ecdsa-with-SHA256 has parameters")
		}
	default:
		return nil, fmt.Errorf("authenticode signature: signature algorithm %s is not rsaEncryption or ecdsa-with-SHA256", out.sigAlg)
	}
	if err := out.parseAttributes(attrs); err != nil {
		return nil, fmt.Errorf("authenticode signature: %w", err)
	}
	for _, c := range out.Certificates {
		if bytes.Equal(c.RawIssuer, issuer) && c.SerialNumber.Cmp(serial) == 0 {
			out.Signer = c
			break
		}
	}
	if out.Signer == nil {
		return bad("the signer's certificate is not included")
	}
	return out, nil
}

// readSHA256 reads the AlgorithmIdentifier of SHA-256, with NULL or
// absent parameters.
func readSHA256(s *cryptobyte.String) bool {
	var alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSHA256) {
		return false
	}
	if alg.PeekASN1Tag(cbasn1.NULL) {
		alg.SkipASN1(cbasn1.NULL)
	}
	return alg.Empty()
}

// parseAttributes reads the [0] IMPLICIT authenticated attributes.
func (s *Signature) parseAttributes(elem cryptobyte.String) error {
	// The signature covers the attributes encoded as a SET: same
	// length and contents, universal tag.
	s.signedAttrs = slices.Clone(elem)
	s.signedAttrs[0] = 0x31
	var attrs cryptobyte.String
	if !elem.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return errors.New("bad authenticated attributes")
	}
	seen := map[string]bool{}
	for !attrs.Empty() {
		var attr, values, value cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return errors.New("an authenticated attribute is not a SEQUENCE of type and values")
		}
		if seen[oid.String()] {
			return fmt.Errorf("attribute %s appears twice", oid)
		}
		seen[oid.String()] = true
		var ok bool
		switch {
		case oid.Equal(oidContentType):
			var ct asn1.ObjectIdentifier
			ok = values.ReadASN1ObjectIdentifier(&ct) && ct.Equal(oidSPCIndirectData)
		case oid.Equal(oidMessageDigest):
			ok = values.ReadASN1Bytes(&s.messageDigest, cbasn1.OCTET_STRING) && len(s.messageDigest) == sha256.Size
		case oid.Equal(oidSigningTime):
			if values.PeekASN1Tag(cbasn1.UTCTime) {
				ok = values.ReadASN1UTCTime(&s.SigningTime)
			} else {
				ok = values.ReadASN1GeneralizedTime(&s.SigningTime)
			}
		case oid.Equal(oidSPCStatementType):
			var purpose asn1.ObjectIdentifier
			ok = values.ReadASN1(&value, cbasn1.SEQUENCE) && value.ReadASN1ObjectIdentifier(&purpose) &&
				purpose.Equal(oidSPCIndividualSign) && value.Empty()
		case oid.Equal(oidSPCSpOpusInfo):
			ok = values.ReadASN1(&value, cbasn1.SEQUENCE) && value.Empty()
		default:
			return fmt.Errorf("unexpected authenticated attribute %s", oid)
		}
		if !ok || !values.Empty() {
			return fmt.Errorf("attribute %s has not the one value expected", oid)
		}
	}
	if !seen[oidContentType.String()] || !seen[oidMessageDigest.String()] {
		return errors.New("contentType or messageDigest attribute missing")
	}
	return nil
}

// ErrVerify is wrapped by the errors of Verify for a signature that does
// not match.
var ErrVerify = errors.New("authenticode signature does not verify")

// Verify checks that the messageDigest attribute is the digest of the
// SpcIndirectDataContent and that the signer certificate's key signed the
// attributes. It does not check the certificates themselves.
func (s *Signature) Verify() error {
	md := sha256.Sum256(contentOctets(s.indirect))
	if !bytes.Equal(md[:], s.messageDigest) {
		return fmt.Errorf("%w: messageDigest is not the digest of the signed content", ErrVerify)
	}
	tbs := sha256.Sum256(s.signedAttrs)
	switch pub := s.Signer.PublicKey.(type) {
	case *rsa.PublicKey:
		if !s.sigAlg.Equal(oidRSAEncryption) {
			return fmt.Errorf("%w: an RSA certificate with signature algorithm %s", ErrVerify, s.sigAlg)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, tbs[:], s.sig); err != nil {
			return fmt.Errorf("%w: %v", ErrVerify, err)
		}
	case *ecdsa.PublicKey:
		if !s.sigAlg.Equal(oidECDSAWithSHA256) {
			return fmt.Errorf("%w: an ECDSA certificate with signature algorithm %s", ErrVerify, s.sigAlg)
		}
		if !ecdsa.VerifyASN1(pub, tbs[:], s.sig) {
			return fmt.Errorf("%w: bad ECDSA signature", ErrVerify)
		}
	default:
		return fmt.Errorf("%w: signer certificate has a %T key", ErrVerify, pub)
	}
	return nil
}
