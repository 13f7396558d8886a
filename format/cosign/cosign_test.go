package cosign_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/signet-dev/signet/format/cosign"
)

const digest = "sha256:87ef60f558bad79beea6425a3b28989f01dd417164150ab3baab98dcbf04def8"

// cosign's own payload for an image without annotations, as `cosign
// sign` writes it (and as its documentation shows).
const cosignPayload = `{"critical":{"identity":{"docker-reference":"ghcr.io/user/demo"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":null}`

func TestNewPayloadMatchesCosign(t *testing.T) {
	b, err := cosign.NewPayload("ghcr.io/user/demo", digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != cosignPayload {
		t.Errorf("payload\n%s\nwant\n%s", b, cosignPayload)
	}
	p, err := cosign.ParsePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Image() != "ghcr.io/user/demo@"+digest || p.Annotations != nil {
		t.Errorf("parsed %+v", p)
	}
	b, err = cosign.NewPayload("127.0.0.1:5000/a/b", digest, map[string]string{"z": "1", "a": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), `"optional":{"a":"2","z":"1"}}`) {
		t.Errorf("annotations not sorted: %s", b)
	}
	p, err = cosign.ParsePayload(b)
	if err != nil || p.Annotations["z"] != "1" || p.Reference != "127.0.0.1:5000/a/b" {
		t.Errorf("parsed %+v, %v", p, err)
	}
}

func TestParsePayloadRefuses(t *testing.T) {
	crit := func(identity, image, typ string) string {
		return `{"critical":{"identity":` + identity + `,"image":` + image + `,"type":` + typ + `}}`
	}
	id := `{"docker-reference":"r.io/x"}`
	img := `{"docker-manifest-digest":"` + digest + `"}`
	typ := `"cosign container image signature"`
	tests := []struct{ name, payload, want string }{
		{"not json", `{`, "truncated"},
		{"array", `[]`, "not a JSON object"},
		{"trailing", cosignPayload + `{}`, "after the JSON object"},
		{"duplicate key", `{"critical":{},"critical":{}}`, "duplicate key"},
		{"nested duplicate", crit(`{"docker-reference":"r.io/x","docker-reference":"r.io/y"}`, img, typ), "duplicate key"},
		{"unknown top key", `{"critical":{},"extra":1}`, "unknown key"},
		{"no critical", `{"optional":null}`, `no "critical"`},
		{"case-folded key", `{"Critical":{}}`, `no "critical"`},
		{"wrong type", crit(id, img, `"atomic container signature"`), "critical.type"},
		{"unknown identity key", crit(`{"docker-reference":"r.io/x","x":1}`, img, typ), "unknown key"},
		{"tag in reference", crit(`{"docker-reference":"r.io/x:latest"}`, img, typ), "without tag"},
		{"digest in reference", crit(`{"docker-reference":"r.io/x@`+digest+`"}`, img, typ), "without tag"},
		{"no registry", crit(`{"docker-reference":"x"}`, img, typ), "no registry"},
		{"empty reference", crit(`{"docker-reference":""}`, img, typ), "empty"},
		{"control char", crit(`{"docker-reference":"r.io/x\u0001"}`, img, typ), "printable"},
		{"sha512 digest", crit(id, `{"docker-manifest-digest":"sha512:00"}`, typ), "not sha256"},
		{"upper hex", crit(id, `{"docker-manifest-digest":"`+strings.ToUpper(digest)+`"}`, typ), "not sha256"},
		{"number digest", crit(id, `{"docker-manifest-digest":1}`, typ), "not a string"},
		{"optional array", `{"critical":` + crit(id, img, typ)[12:len(crit(id, img, typ))-1] + `,"optional":[]}`, "optional"},
		{"too big", `{"critical":"` + strings.Repeat("a", cosign.MaxPayloadSize) + `"}`, "limit"},
		{"not utf8", "{\"critical\":\"\xff\"}", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cosign.ParsePayload([]byte(tt.payload))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParsePayload(%s) = %v, want error containing %q", tt.payload, err, tt.want)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	payload := []byte(cosignPayload)
	for name, k := range map[string]crypto.Signer{"p256": p256, "rsa": r} {
		t.Run(name, func(t *testing.T) {
			sig, err := cosign.Sign(k, payload)
			if err != nil {
				t.Fatal(err)
			}
			if err := cosign.Verify(k.Public(), payload, sig); err != nil {
				t.Fatal(err)
			}
			// Independently: SHA-256 over the payload, as cosign checks.
			sum := sha256.Sum256(payload)
			switch pub := k.Public().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, sum[:], sig) {
					t.Error("not an ECDSA signature over SHA-256 of the payload")
				}
			case *rsa.PublicKey:
				if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
					t.Error("not a PKCS #1 v1.5 signature over SHA-256 of the payload")
				}
			}
			bad := append([]byte(nil), payload...)
			bad[len(bad)-2] ^= 1
			if err := cosign.Verify(k.Public(), bad, sig); !errors.Is(err, cosign.ErrVerify) {
				t.Errorf("altered payload: %v", err)
			}
		})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := cosign.Sign(p384, payload); err == nil {
		t.Error("signed with a P-384 key, which cosign verify --key checks over SHA-256 and would refuse")
	}
	der, _ := x509.MarshalPKIXPublicKey(p256.Public())
	if err := cosign.CheckKey(der); err == nil {
		t.Error("CheckKey accepted DER bytes")
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(cosignPayload))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := cosign.ParsePayload(b)
		if err != nil {
			return
		}
		// What parses re-encodes to a payload that parses the same.
		again, err := cosign.NewPayload(p.Reference, p.Digest, p.Annotations)
		if err != nil {
			if strings.Contains(err.Error(), "limit") {
				return
			}
			t.Fatalf("re-encoding %+v: %v", p, err)
		}
		q, err := cosign.ParsePayload(again)
		if err != nil || q.Image() != p.Image() || len(q.Annotations) != len(p.Annotations) {
			t.Fatalf("round trip %+v → %+v, %v", p, q, err)
		}
	})
}
