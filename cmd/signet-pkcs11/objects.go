package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/keycert"
)

// An object is what a handle names: a key's private half (which only
// signs, through the server), its public half, or its certificate.
type object struct {
	handle ulong
	class  ulong
	key    *keyInfo
	attrs  map[ulong][]byte
	// private objects are listed only in logged-in sessions when the
	// token requires a login.
	private bool
}

// keyInfo is a Signet key as the module exposes it.
type keyInfo struct {
	name    string
	pub     crypto.PublicKey
	keyType ulong
	hash    crypto.Hash // the digest the server's raw format signs with it; 0 for Ed25519
	sigLen  int         // length of a PKCS #11 signature
	chain   []byte      // DER of the key's certificate, if one is attached
}

// Encoders of attribute values, in the host's byte order as PKCS #11
// prescribes for CK_ULONG.
func ulongValue(v ulong) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint64(b, v)
	return b
}

func boolValue(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// Curve OIDs for CKA_EC_PARAMS.
var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// newKeyInfo reads an API key description: only keys whose raw
// signatures PKCS #11 mechanisms produce are exposed.
func newKeyInfo(k *api.Key, chain string) (*keyInfo, error) {
	block, _ := pem.Decode([]byte(k.PublicKey))
	if block == nil {
		return nil, fmt.Errorf("key %q: the server sent no PEM public key", k.Name)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k.Name, err)
	}
	ki := &keyInfo{name: k.Name, pub: pub}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		ki.keyType = ckkEC
		switch p.Curve {
		case elliptic.P256():
			ki.hash, ki.sigLen = crypto.SHA256, 64
		case elliptic.P384():
			ki.hash, ki.sigLen = crypto.SHA384, 96
		default:
			return nil, fmt.Errorf("key %q: curve %s", k.Name, p.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		ki.keyType, ki.hash, ki.sigLen = ckkRSA, crypto.SHA256, p.Size()
	case ed25519.PublicKey:
		ki.keyType, ki.sigLen = ckkECEdwards, ed25519.SignatureSize
	default:
		return nil, fmt.Errorf("key %q: a %T key", k.Name, pub)
	}
	if chain != "" {
		certs, err := keycert.ParseChain([]byte(chain))
		if err == nil && certs[0].PublicKey != nil && publicEqual(pub, certs[0].PublicKey) {
			ki.chain = certs[0].Raw
		}
	}
	return ki, nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// id is CKA_ID, shared by a key's private, public and certificate
// objects so that tools pair them: the first 20 bytes of the SHA-256 of
// the public key's SubjectPublicKeyInfo.
func (ki *keyInfo) id() []byte {
	der, _ := x509.MarshalPKIXPublicKey(ki.pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}

// keyAttributes are the attributes of both halves that describe the key.
func (ki *keyInfo) keyAttributes() (map[ulong][]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(ki.pub)
	if err != nil {
		return nil, err
	}
	a := map[ulong][]byte{
		ckaKeyType:       ulongValue(ki.keyType),
		ckaID:            ki.id(),
		ckaLabel:         []byte(ki.name),
		ckaToken:         boolValue(true),
		ckaLocal:         boolValue(true),
		ckaModifiable:    boolValue(false),
		ckaCopyable:      boolValue(false),
		ckaDestroyable:   boolValue(false),
		ckaDerive:        boolValue(false),
		ckaPublicKeyInfo: spki,
	}
	switch p := ki.pub.(type) {
	case *ecdsa.PublicKey:
		oid := oidP256
		if p.Curve == elliptic.P384() {
			oid = oidP384
		}
		params, _ := asn1.Marshal(oid)
		raw, err := p.Bytes()
		if err != nil {
			return nil, err
		}
		point, _ := asn1.Marshal(raw)
		a[ckaECParams], a[ckaECPoint] = params, point
	case ed25519.PublicKey:
		params, _ := asn1.Marshal(oidEd25519)
		point, _ := asn1.Marshal([]byte(p))
		a[ckaECParams], a[ckaECPoint] = params, point
	case *rsa.PublicKey:
		a[ckaModulus] = p.N.Bytes()
		a[ckaModulusBits] = ulongValue(ulong(p.N.BitLen()))
		a[ckaPublicExponent] = big.NewInt(int64(p.E)).Bytes()
	}
	return a, nil
}

// objectsOf returns the objects of key ki, with handles from next on.
func objectsOf(ki *keyInfo, next ulong) ([]*object, error) {
	priv, err := ki.keyAttributes()
	if err != nil {
		return nil, err
	}
	priv[ckaClass] = ulongValue(ckoPrivateKey)
	priv[ckaPrivate] = boolValue(true)
	priv[ckaSign] = boolValue(true)
	for _, t := range []ulong{ckaDecrypt, ckaUnwrap, ckaSignRecover, ckaAlwaysAuthenticate, ckaExtractable, ckaWrapWithTrusted} {
		priv[t] = boolValue(false)
	}
	for _, t := range []ulong{ckaSensitive, ckaAlwaysSensitive, ckaNeverExtractable} {
		priv[t] = boolValue(true)
	}
	if s, err := subjectOf(ki.chain); err == nil {
		priv[ckaSubject] = s
	}
	mechs := make([]byte, 0, 8*len(ki.mechanisms()))
	for _, m := range ki.mechanisms() {
		mechs = append(mechs, ulongValue(m)...)
	}
	priv[ckaAllowedMechanisms] = mechs

	pub, err := ki.keyAttributes()
	if err != nil {
		return nil, err
	}
	pub[ckaClass] = ulongValue(ckoPublicKey)
	pub[ckaPrivate] = boolValue(false)
	pub[ckaVerify] = boolValue(true)
	for _, t := range []ulong{ckaEncrypt, ckaWrap, ckaVerifyRecover, ckaTrusted} {
		pub[t] = boolValue(false)
	}
	if s, err := subjectOf(ki.chain); err == nil {
		pub[ckaSubject] = s
	}
	delete(pub, ckaAllowedMechanisms)
	out := []*object{
		{handle: next, class: ckoPrivateKey, key: ki, attrs: priv, private: true},
		{handle: next + 1, class: ckoPublicKey, key: ki, attrs: pub},
	}
	if ki.chain != nil {
		cert, err := x509.ParseCertificate(ki.chain)
		if err != nil {
			return nil, err
		}
		serial, _ := asn1.Marshal(cert.SerialNumber)
		out = append(out, &object{handle: next + 2, class: ckoCertificate, key: ki, attrs: map[ulong][]byte{
			ckaClass:               ulongValue(ckoCertificate),
			ckaToken:               boolValue(true),
			ckaPrivate:             boolValue(false),
			ckaModifiable:          boolValue(false),
			ckaLabel:               []byte(ki.name),
			ckaID:                  ki.id(),
			ckaCertificateType:     ulongValue(ckcX509),
			ckaCertificateCategory: ulongValue(ckCategoryTok),
			ckaTrusted:             boolValue(false),
			ckaValue:               cert.Raw,
			ckaSubject:             cert.RawSubject,
			ckaIssuer:              cert.RawIssuer,
			ckaSerialNumber:        serial,
			ckaPublicKeyInfo:       cert.RawSubjectPublicKeyInfo,
		}})
	}
	return out, nil
}

func subjectOf(der []byte) ([]byte, error) {
	if der == nil {
		return nil, errors.New("no certificate")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return c.RawSubject, nil
}

// sensitive are the attributes of a private key that hold its secret:
// asking for them is refused as sensitive, not as unknown.
var sensitive = map[ulong]bool{ckaValue: true, ckaPrivateExponent: true, ckaPrime1: true, ckaPrime2: true,
	ckaExponent1: true, ckaExponent2: true, ckaCoefficient: true}
