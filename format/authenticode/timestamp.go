package authenticode

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidRFC3161CounterSign is the unauthenticated attribute that holds an
// RFC 3161 time-stamp token in an Authenticode SignerInfo
// (szOID_RFC3161_counterSign).
var oidRFC3161CounterSign = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 3, 3, 1}

// maxTimestamp bounds a token: a TSA's signature and a few certificates.
const maxTimestamp = 32 << 10

// TimestampDigest returns what an RFC 3161 countersignature of s dates:
// the SHA-256 of the SignerInfo's signature value (its encryptedDigest),
// as Windows and osslsigncode check. A TSA is asked for a token with this
// SHA-256 message imprint.
func (s *Signature) TimestampDigest() []byte {
	d := sha256.Sum256(s.sig)
	return d[:]
}

// AddTimestamp returns the Authenticode signature der with token, a DER
// RFC 3161 TimeStampToken for its TimestampDigest, as its RFC 3161
// countersignature, replacing any it had. The signed parts are unchanged,
// so the signature still verifies. It does not check the token: the
// caller checks it against the request it made (format/rfc3161).
func AddTimestamp(der, token []byte) ([]byte, error) {
	if len(token) == 0 || len(token) > maxTimestamp {
		return nil, errors.New("authenticode: time-stamp token is empty or larger than 32 KiB")
	}
	if _, err := derElement(token); err != nil {
		return nil, errors.New("authenticode: time-stamp token is not one DER SEQUENCE")
	}
	return rebuild(der, token)
}

// WithoutTimestamp returns the Authenticode signature der without its
// RFC 3161 countersignature: the bytes the signer returned, which its
// audit entry records.
func WithoutTimestamp(der []byte) ([]byte, error) { return rebuild(der, nil) }

// rebuild returns der with token as its countersignature, or with none
// if token is nil.
func rebuild(der, token []byte) ([]byte, error) {
	if _, err := ParseSignature(der); err != nil {
		return nil, err
	}
	// Walk down to the SignerInfo, keeping every other element as it is;
	// ParseSignature has checked the shape.
	s := cryptobyte.String(der)
	var ci, explicit, sd, signerInfos, si cryptobyte.String
	var oid asn1.ObjectIdentifier
	s.ReadASN1(&ci, cbasn1.SEQUENCE)
	ci.ReadASN1ObjectIdentifier(&oid)
	ci.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific())
	explicit.ReadASN1(&sd, cbasn1.SEQUENCE)
	var before [][]byte // SignedData elements before signerInfos
	for {
		var elem cryptobyte.String
		var tag cbasn1.Tag
		if !sd.ReadAnyASN1Element(&elem, &tag) {
			return nil, errors.New("authenticode: malformed SignedData")
		}
		if tag == cbasn1.SET && sd.Empty() {
			elem.ReadASN1(&signerInfos, cbasn1.SET)
			break
		}
		before = append(before, elem)
	}
	signerInfos.ReadASN1(&si, cbasn1.SEQUENCE)
	var fields [][]byte // SignerInfo elements up to its signature
	for !si.Empty() {
		var elem cryptobyte.String
		var tag cbasn1.Tag
		if !si.ReadAnyASN1Element(&elem, &tag) {
			return nil, errors.New("authenticode: malformed SignerInfo")
		}
		if tag == cbasn1.Tag(1).Constructed().ContextSpecific() {
			continue // the countersignature replaced
		}
		fields = append(fields, elem)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, e := range before {
					b.AddBytes(e)
				}
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, f := range fields {
							b.AddBytes(f)
						}
						if token == nil {
							return
						}
						b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1ObjectIdentifier(oidRFC3161CounterSign)
								b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(token) })
							})
						})
					})
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	if len(out) > maxSignatureSize {
		return nil, errors.New("authenticode: the signature with its time-stamp token exceeds 64 KiB")
	}
	if sig, err := ParseSignature(out); err != nil || !bytes.Equal(sig.Timestamp, token) {
		return nil, errors.New("authenticode: the time-stamped signature does not parse back")
	}
	return out, nil
}

// parseTimestampAttribute reads the unauthenticated attributes of a
// SignerInfo: exactly one, the RFC 3161 countersignature, with one token.
func parseTimestampAttribute(attrs cryptobyte.String) ([]byte, error) {
	var attr, values, token cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attrs.Empty() ||
		!attr.ReadASN1ObjectIdentifier(&oid) || !attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
		return nil, errors.New("unauthenticated attributes are not one attribute")
	}
	if !oid.Equal(oidRFC3161CounterSign) {
		return nil, errors.New("unauthenticated attribute " + oid.String() + " is not an RFC 3161 countersignature")
	}
	if !values.ReadASN1Element(&token, cbasn1.SEQUENCE) || !values.Empty() || len(token) > maxTimestamp {
		return nil, errors.New("RFC 3161 countersignature does not hold one time-stamp token")
	}
	return bytes.Clone(token), nil
}
