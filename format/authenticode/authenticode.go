// Package authenticode signs Windows PE files (.exe, .dll, .sys …) with
// Authenticode, as Microsoft's "Windows Authenticode Portable Executable
// Signature Format" and "PE Format" specifications define it, so that
// osslsigncode verify and Windows accept the result.
//
// # Format
//
// An Authenticode signature is a PKCS #7 SignedData (RFC 2315) stored in
// the PE file's certificate table, which the optional header's fifth data
// directory entry locates by file offset. The table ends the file and
// holds a WIN_CERTIFICATE:
//
//	uint32  dwLength           8 + len(SignedData) + padding to 8 bytes
//	uint16  wRevision          0x0200
//	uint16  wCertificateType   0x0002 (PKCS_SIGNED_DATA)
//	byte[]  bCertificate       DER SignedData, zero-padded to 8 bytes
//
// The SignedData's content, of type SPC_INDIRECT_DATA_OBJID
// (1.3.6.1.4.1.311.2.1.4), is an SpcIndirectDataContent:
//
//	SpcIndirectDataContent ::= SEQUENCE {
//	    data           SEQUENCE { type OID (SPC_PE_IMAGE_DATAOBJ), value SpcPeImageData },
//	    messageDigest  DigestInfo }   -- SHA-256 of the image
//
// The image digest covers the whole file except three ranges: the
// optional header's CheckSum, the certificate table's directory entry and
// the certificate table itself; the content before the table is
// zero-padded to 8 bytes first, and the padding is hashed. (This is the
// digest osslsigncode computes: every byte outside those ranges, in file
// order. The specification's section-by-section description gives the
// same digest for files whose sections follow the headers without gaps,
// which is what linkers write.) Signing therefore leaves the digest
// unchanged, and [Image.Digest] computes it from a local file, so the file
// itself is never sent to the signer.
//
// The signer's one SignerInfo signs, with the key's certificate, these
// authenticated attributes: contentType (SPC_INDIRECT_DATA_OBJID),
// messageDigest (SHA-256 of the SpcIndirectDataContent's content octets,
// without its tag and length, as Authenticode prescribes),
// SpcStatementType (individual code signing), an empty SpcSpOpusInfo and
// signingTime. RSA keys sign with PKCS #1 v1.5 (rsaEncryption), ECDSA P-256
// and P-384 keys with ecdsa-with-SHA256; the digest is always SHA-256.
// The SignedData carries the certificate chain given, leaf first.
//
// # What it guarantees
//
// [ParseIndirectData] accepts exactly the SpcIndirectDataContent that
// [NewIndirectData] builds, byte for byte, and [Sign] signs nothing else:
// a caller controls only the 32-byte digest inside it, so the signer can
// never be made to sign other bytes. [Sign] takes a [crypto.Signer], so
// keys held in a keystore or an HSM work alike. [ParseSignature] reads
// strictly the SignedData that Sign writes, and [Signature.Verify] checks
// its messageDigest and signature against its signer certificate.
//
// [AddTimestamp] adds an RFC 3161 countersignature (a time-stamp token
// over the SHA-256 of the signature value, [Signature.TimestampDigest]) as
// an unauthenticated attribute, so that the signature still verifies
// after its certificate expires; [WithoutTimestamp] takes it off again.
//
// It does not decide whether a certificate is trusted (that is the
// verifier's trust store and the CA's business), make Authenticode
// (PKCS #9) countersignatures, page hashes or nested signatures, or parse
// PE sections: [ParseImage] checks only the headers signing relies on. The
// signingTime attribute is the signer's clock, which Windows does not
// trust.
package authenticode

import (
	"encoding/asn1"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of PKCS #7, PKCS #9 and Authenticode.
var (
	oidSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSPCIndirectData   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSPCPEImageData    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
	oidSPCStatementType  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 11}
	oidSPCIndividualSign = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 21}
	oidSPCSpOpusInfo     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 12}
	oidContentType       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

const (
	obsoleteFileName      = "<<<Obsolete>>>" // the SpcLink file name signtool and osslsigncode write
	maxSignatureSize      = 64 << 10         // bounds ParseSignature's input
	maxIndirectDataLength = 256              // bounds ParseIndirectData's input; a PE image's is 106 bytes
)

// derElement returns the DER element at the start of b, refusing
// anything after it but the zero padding of a WIN_CERTIFICATE.
func derElement(b []byte) ([]byte, error) {
	s := cryptobyte.String(b)
	var elem cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadAnyASN1Element(&elem, &tag) || tag != cbasn1.SEQUENCE {
		return nil, errors.New("WIN_CERTIFICATE does not hold a DER SEQUENCE")
	}
	if len(s) > 7 {
		return nil, errors.New("WIN_CERTIFICATE has data after its signature")
	}
	for _, c := range s {
		if c != 0 {
			return nil, errors.New("WIN_CERTIFICATE padding is not zero")
		}
	}
	return elem, nil
}
