package authenticode

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf16"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// NewIndirectData returns the DER SpcIndirectDataContent of a PE image
// whose Authenticode digest (SHA-256) is digest:
//
//	SEQUENCE {
//	  SEQUENCE {                                  -- SpcAttributeTypeAndOptionalValue
//	    OID 1.3.6.1.4.1.311.2.1.15                -- SPC_PE_IMAGE_DATAOBJ
//	    SEQUENCE {                                -- SpcPeImageData
//	      BIT STRING ''                           -- flags: none
//	      [0] { [2] { [0] IMPLICIT BMPString "<<<Obsolete>>>" } } } }
//	  SEQUENCE {                                  -- DigestInfo
//	    SEQUENCE { OID sha256, NULL }
//	    OCTET STRING digest } }
//
// It panics if digest is not 32 bytes.
func NewIndirectData(digest []byte) []byte {
	if len(digest) != sha256.Size {
		panic(fmt.Sprintf("authenticode: digest is %d bytes, want %d", len(digest), sha256.Size))
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidSPCPEImageData)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1BitString(nil)
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) {
							for _, u := range utf16.Encode([]rune(obsoleteFileName)) {
								b.AddUint16(u)
							}
						})
					})
				})
			})
		})
		addDigestInfo(b, digest)
	})
	return b.BytesOrPanic()
}

func addDigestInfo(b *cryptobyte.Builder, digest []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addSHA256(b)
		b.AddASN1OctetString(digest)
	})
}

// addSHA256 adds the AlgorithmIdentifier of SHA-256, with the NULL
// parameters that Authenticode writes.
func addSHA256(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSHA256)
		b.AddASN1NULL()
	})
}

// ErrIndirectData is wrapped by every error of ParseIndirectData.
var ErrIndirectData = errors.New("not a PE image SpcIndirectDataContent")

// ParseIndirectData returns the image digest inside der, an
// SpcIndirectDataContent. It accepts exactly what NewIndirectData builds:
// a PE image (SPC_PE_IMAGE_DATAOBJ) with a SHA-256 digest of 32 bytes, in
// that one encoding. Anything else is an error wrapping ErrIndirectData
// that says what differs.
func ParseIndirectData(der []byte) ([]byte, error) {
	bad := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: %s", ErrIndirectData, fmt.Sprintf(format, args...))
	}
	if len(der) > maxIndirectDataLength {
		return bad("%d bytes; a PE image's is %d", len(der), len(NewIndirectData(make([]byte, sha256.Size))))
	}
	s := cryptobyte.String(der)
	var content, data, digestInfo, alg, digest cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&content, cbasn1.SEQUENCE) || !s.Empty() {
		return bad("not one DER SEQUENCE")
	}
	if !content.ReadASN1(&data, cbasn1.SEQUENCE) || !content.ReadASN1(&digestInfo, cbasn1.SEQUENCE) || !content.Empty() {
		return bad("not a SEQUENCE of data and messageDigest")
	}
	if !data.ReadASN1ObjectIdentifier(&oid) {
		return bad("data has no type")
	}
	if !oid.Equal(oidSPCPEImageData) {
		return bad("data is not SPC_PE_IMAGE_DATAOBJ (1.3.6.1.4.1.311.2.1.15): only PE images are signed")
	}
	if !digestInfo.ReadASN1(&alg, cbasn1.SEQUENCE) || !digestInfo.ReadASN1(&digest, cbasn1.OCTET_STRING) || !digestInfo.Empty() {
		return bad("messageDigest is not a DigestInfo")
	}
	if !alg.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSHA256) {
		return bad("digest algorithm is not SHA-256")
	}
	if len(digest) != sha256.Size {
		return bad("SHA-256 digest is %d bytes, want %d", len(digest), sha256.Size)
	}
	if !bytes.Equal(der, NewIndirectData(digest)) {
		return bad("SpcPeImageData or encoding differs from the canonical form (empty flags, file link %q, NULL digest parameters)", obsoleteFileName)
	}
	return bytes.Clone(digest), nil
}
