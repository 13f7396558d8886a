package notation_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/signet-dev/signet/format/notation"
)

const digest = "sha256:87ef60f558bad79beea6425a3b28989f01dd417164150ab3baab98dcbf04def8"

func input(header, payload string) []byte {
	enc := base64.RawURLEncoding
	return []byte(enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)))
}

func header(alg string) string {
	return `{"alg":"` + alg + `","crit":["io.cncf.notary.signingScheme"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2026-12-07T17:00:00Z"}`
}

const payload = `{"targetArtifact":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest + `","size":528,"annotations":{"a":"b"}}}`

func TestParseSigningInput(t *testing.T) {
	in, err := notation.ParseSigningInput(input(header("ES256"), payload))
	if err != nil {
		t.Fatal(err)
	}
	if in.Alg != "ES256" || in.Digest != digest || in.Size != 528 || in.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("parsed %+v", in)
	}
	tests := []struct{ name, input, want string }{
		{"no dot", "abc", "HEADER.PAYLOAD"},
		{"three parts", string(input(header("ES256"), payload)) + ".sig", "HEADER.PAYLOAD"},
		{"padded base64", base64.URLEncoding.EncodeToString([]byte(header("ES256")+" ")) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)), "base64url"},
		{"no alg", string(input(`{"cty":"application/vnd.cncf.notary.payload.v1+json"}`, payload)), "no alg"},
		{"other cty", string(input(`{"alg":"ES256","cty":"application/json"}`, payload)), "cty"},
		{"duplicate alg", string(input(`{"alg":"ES256","alg":"none","cty":"application/vnd.cncf.notary.payload.v1+json"}`, payload)), "duplicate key"},
		{"extra payload key", string(input(header("ES256"), `{"targetArtifact":{},"x":1}`)), "exactly"},
		{"unknown target key", string(input(header("ES256"), `{"targetArtifact":{"mediaType":"m","digest":"`+digest+`","size":1,"urls":[]}}`)), "unknown key"},
		{"md5 digest", string(input(header("ES256"), `{"targetArtifact":{"mediaType":"m","digest":"md5:00","size":1}}`)), "not sha256"},
		{"upper digest", string(input(header("ES256"), `{"targetArtifact":{"mediaType":"m","digest":"`+strings.ToUpper(digest)+`","size":1}}`)), "not sha256"},
		{"negative size", string(input(header("ES256"), `{"targetArtifact":{"mediaType":"m","digest":"`+digest+`","size":-1}}`)), "size"},
		{"no media type", string(input(header("ES256"), `{"targetArtifact":{"digest":"`+digest+`","size":1}}`)), "mediaType"},
		{"too big", strings.Repeat("a", notation.MaxSigningInputSize+1), "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := notation.ParseSigningInput([]byte(tt.input)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSign checks each key's signature independently of Verify: ECDSA as
// r||s over the header's hash, RSA as PSS with the hash-length salt.
func TestSign(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r3072, _ := rsa.GenerateKey(rand.Reader, 3072)
	tests := []struct {
		key  crypto.Signer
		alg  string
		spec string
	}{{p256, "ES256", "EC-256"}, {p384, "ES384", "EC-384"}, {r3072, "PS384", "RSA-3072"}}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			in := input(header(tt.alg), payload)
			sig, err := notation.Sign(tt.key, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := notation.Verify(tt.key.Public(), in, sig); err != nil {
				t.Fatal(err)
			}
			if spec, _ := notation.KeySpec(tt.key.Public()); spec != tt.spec {
				t.Errorf("key spec %s, want %s", spec, tt.spec)
			}
			switch k := tt.key.Public().(type) {
			case *ecdsa.PublicKey:
				n := k.Curve.Params().BitSize / 8
				var sum []byte
				if n == 32 {
					s := sha256.Sum256(in)
					sum = s[:]
				} else {
					s := sha512.Sum384(in)
					sum = s[:]
				}
				if len(sig) != 2*n || !ecdsa.Verify(k, sum, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
					t.Error("not an r||s ECDSA signature over the signing input's hash")
				}
			case *rsa.PublicKey:
				s := sha512.Sum384(in)
				if rsa.VerifyPSS(k, crypto.SHA384, s[:], sig, &rsa.PSSOptions{SaltLength: 48}) != nil {
					t.Error("not a PSS SHA-384 signature with a 48-byte salt")
				}
			}
			bad := append([]byte(nil), in...)
			bad[3] ^= 1
			if notation.Verify(tt.key.Public(), bad, sig) == nil {
				t.Error("verifies over another input")
			}
		})
	}
	if _, err := notation.Sign(p256, input(header("ES384"), payload)); err == nil || !strings.Contains(err.Error(), "alg") {
		t.Errorf("signing an ES384 header with a P-256 key: %v", err)
	}
	r2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := notation.Sign(r2048, input(header("PS256"), payload)); err == nil {
		t.Error("signed with an RSA-2048 key, which Signet does not make")
	}
}

func FuzzParseSigningInput(f *testing.F) {
	f.Add(input(header("ES256"), payload))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := notation.ParseSigningInput(b)
		if err != nil {
			return
		}
		if in.Alg == "" || in.Size < 0 || !strings.Contains(in.Digest, ":") {
			t.Fatalf("accepted %q as %+v", b, in)
		}
	})
}
