package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func claims() Claims {
	return Claims{
		Issuer: "ci", Subject: "build-42", Audience: "prod", ID: NewID(),
		IssuedAt: t0.Unix(), NotBefore: t0.Unix(), Expiry: t0.Add(2 * time.Hour).Unix(),
		Scope: Scope{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}},
	}
}

type keys struct {
	v          *Verifier
	a, b, evil ed25519.PrivateKey
}

func newKeys(t testing.TB) keys {
	t.Helper()
	gen := func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }
	k := keys{a: gen(), b: gen(), evil: gen()}
	v, err := NewVerifier("prod", map[string]ed25519.PublicKey{
		"tok-a": k.a.Public().(ed25519.PublicKey), "tok-b": k.b.Public().(ed25519.PublicKey),
	}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	k.v = v
	return k
}

func mustSign(t testing.TB, s crypto.Signer, kid string, c Claims) string {
	t.Helper()
	tok, err := Sign(s, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge builds a compact JWS from raw header and payload JSON, signed with
// sign over the signing input.
func forge(header, payload string, sign func([]byte) []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	in := enc([]byte(header)) + "." + enc([]byte(payload))
	return in + "." + enc(sign([]byte(in)))
}

func payloadOf(t testing.TB, c Claims) string {
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoundTrip(t *testing.T) {
	k := newKeys(t)
	c := claims()
	c.Scope.MaxItems = 5
	c.Confirm = &Confirmation{CertSHA256: "abc"}
	tok := mustSign(t, k.a, "tok-a", c)
	for _, now := range []time.Time{t0, t0.Add(-59 * time.Second), t0.Add(2*time.Hour + 59*time.Second)} {
		got, err := k.v.Verify(tok, now)
		if err != nil {
			t.Fatalf("at %v: %v", now, err)
		}
		if got.ID != c.ID || got.Subject != "build-42" || got.Scope.MaxItems != 5 || got.Confirm.CertSHA256 != "abc" {
			t.Errorf("claims %+v, want %+v", got, c)
		}
	}
	// Either listed key verifies: rotation keeps old tokens valid.
	if _, err := k.v.Verify(mustSign(t, k.b, "tok-b", c), t0); err != nil {
		t.Errorf("token from the second key: %v", err)
	}
	// The header is exactly what the package comment promises.
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var hdr map[string]any
	json.Unmarshal(h, &hdr)
	if len(hdr) != 3 || hdr["alg"] != "EdDSA" || hdr["kid"] != "tok-a" || hdr["typ"] != Type {
		t.Errorf("header %s", h)
	}
}

func TestRejections(t *testing.T) {
	k := newKeys(t)
	good := mustSign(t, k.a, "tok-a", claims())
	parts := strings.Split(good, ".")
	edSign := func(key ed25519.PrivateKey) func([]byte) []byte {
		return func(in []byte) []byte { return ed25519.Sign(key, in) }
	}
	hdr := `{"alg":"EdDSA","kid":"tok-a","typ":"signet+jwt"}`
	with := func(edit func(*Claims)) string {
		c := claims()
		edit(&c)
		return forge(hdr, payloadOf(t, c), edSign(k.a))
	}
	// A token "signed" with HMAC using the public key as the secret: the
	// classic algorithm-confusion attack.
	hs := forge(`{"alg":"HS256","kid":"tok-a","typ":"signet+jwt"}`, payloadOf(t, claims()), func(in []byte) []byte {
		m := hmac.New(sha256.New, k.a.Public().(ed25519.PublicKey))
		m.Write(in)
		return m.Sum(nil)
	})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es := forge(`{"alg":"ES256","kid":"tok-a","typ":"signet+jwt"}`, payloadOf(t, claims()), func(in []byte) []byte {
		sum := sha256.Sum256(in)
		sig, _ := ecdsa.SignASN1(rand.Reader, ec, sum[:])
		return sig
	})
	flip := []byte(parts[2])
	flip[3] = map[bool]byte{true: 'B', false: 'A'}[flip[3] == 'A'] // a different canonical character

	tests := []struct {
		name string
		tok  string
		now  time.Time
		err  error
		msg  string
	}{
		{"empty", "", t0, ErrMalformed, "three base64url segments"},
		{"garbage", "not.a.token", t0, ErrEncoding, "segment"},
		{"truncated to two segments", parts[0] + "." + parts[1], t0, ErrMalformed, "has 2"},
		{"truncated signature", good[:len(good)-10], t0, ErrSignature, "altered or forged"},
		{"four segments", good + ".x", t0, ErrMalformed, "has 4"},
		{"oversized", strings.Repeat("a", MaxSize+1), t0, ErrMalformed, "limit is 8192"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], t0, ErrEncoding, "segment 1"},
		{"standard base64 alphabet", parts[0] + "." + parts[1] + "+/." + parts[2], t0, ErrEncoding, "segment 2"},
		{"non-canonical trailing bits", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B", t0, ErrEncoding, "segment 3"},
		{"alg none", forge(`{"alg":"none","kid":"tok-a","typ":"signet+jwt"}`, payloadOf(t, claims()), func([]byte) []byte { return []byte{0} }), t0, ErrAlgorithm, `alg "none"`},
		{"alg HS256 with the public key as secret", hs, t0, ErrAlgorithm, `alg "HS256"`},
		{"alg ES256", es, t0, ErrAlgorithm, `alg "ES256"`},
		{"wrong typ", forge(`{"alg":"EdDSA","kid":"tok-a","typ":"JWT"}`, payloadOf(t, claims()), edSign(k.a)), t0, ErrType, `typ "JWT"`},
		{"deny list as token", forge(`{"alg":"EdDSA","kid":"tok-a","typ":"signet-deny+jwt"}`, payloadOf(t, claims()), edSign(k.a)), t0, ErrType, "signet-deny+jwt"},
		{"unknown header field", forge(`{"alg":"EdDSA","kid":"tok-a","typ":"signet+jwt","jku":"https://evil"}`, payloadOf(t, claims()), edSign(k.a)), t0, ErrMalformed, "jku"},
		{"unknown kid", forge(`{"alg":"EdDSA","kid":"tok-z","typ":"signet+jwt"}`, payloadOf(t, claims()), edSign(k.a)), t0, ErrUnknownKey, `"tok-z"`},
		{"signed by an unlisted key", forge(hdr, payloadOf(t, claims()), edSign(k.evil)), t0, ErrSignature, "altered or forged"},
		{"signed by the other listed key", forge(hdr, payloadOf(t, claims()), edSign(k.b)), t0, ErrSignature, `key "tok-a"`},
		{"tampered signature", parts[0] + "." + parts[1] + "." + string(flip), t0, ErrSignature, ""},
		{"tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(payloadOf(t, claims()), "release", "nightly", 1))) + "." + parts[2], t0, ErrSignature, ""},
		{"unknown claim", forge(hdr, strings.Replace(payloadOf(t, claims()), `{`, `{"admin":true,`, 1), edSign(k.a)), t0, ErrMalformed, `unknown field "admin"`},
		{"missing claims", with(func(c *Claims) { c.ID, c.Subject = "", "" }), t0, ErrMalformed, "missing claims sub, jti"},
		{"empty scope", with(func(c *Claims) { c.Scope.Keys = nil }), t0, ErrMalformed, "scope.keys"},
		{"claims not an object", forge(hdr, `[1]`, edSign(k.a)), t0, ErrMalformed, "claims"},
		{"wrong audience", with(func(c *Claims) { c.Audience = "staging" }), t0, ErrAudience, `is for "staging", this is "prod"`},
		{"expired", good, t0.Add(2*time.Hour + 61*time.Second), ErrExpired, "expired at"},
		{"not yet valid", good, t0.Add(-61 * time.Second), ErrNotYetValid, "check the clocks"},
		{"issued in the future", with(func(c *Claims) { c.IssuedAt = t0.Add(time.Hour).Unix() }), t0, ErrNotYetValid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := k.v.Verify(tt.tok, tt.now)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tt.err, tt.msg)
			}
			if c != nil {
				t.Error("claims returned with an error")
			}
		})
	}
	// Each distinct error is reported as itself and nothing else.
	all := []error{ErrMalformed, ErrEncoding, ErrType, ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrAudience, ErrNotYetValid, ErrExpired, ErrRevoked}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}

// The cache remembers signatures, never validity: a token that verified
// once is still refused once expired or revoked.
func TestCacheRechecksUse(t *testing.T) {
	k := newKeys(t)
	c := claims()
	tok := mustSign(t, k.a, "tok-a", c)
	if _, err := k.v.Verify(tok, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := k.v.Verify(tok, t0.Add(3*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("cached token after expiry: %v", err)
	}
	d, err := k.v.ParseDenyList(mustDeny(t, k.a, "tok-a", DenyList{Issuer: "ops", IssuedAt: t0.Unix(), IDs: []string{c.ID}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.v.SetDenyList(d); err != nil {
		t.Fatal(err)
	}
	if _, err := k.v.Verify(tok, t0); !errors.Is(err, ErrRevoked) {
		t.Errorf("cached token after revocation: %v", err)
	}
}

func mustDeny(t testing.TB, s crypto.Signer, kid string, d DenyList) string {
	t.Helper()
	out, err := SignDenyList(s, kid, d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDenyList(t *testing.T) {
	k := newKeys(t)
	c1, c2, c3 := claims(), claims(), claims()
	c2.Subject = "build-99"
	toks := []string{mustSign(t, k.a, "tok-a", c1), mustSign(t, k.a, "tok-a", c2), mustSign(t, k.a, "tok-a", c3)}

	dir := t.TempDir()
	file := filepath.Join(dir, "deny.jws")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(mustDeny(t, k.b, "tok-b", DenyList{Issuer: "ops", IssuedAt: t0.Unix(), IDs: []string{c1.ID}, Subjects: []string{"build-99"}}))
	if err := k.v.LoadDenyList(file); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"token " + c1.ID + " is on the deny list", `every token of subject "build-99"`, ""} {
		_, err := k.v.Verify(toks[i], t0)
		if want == "" && err != nil || want != "" && (!errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), want)) {
			t.Errorf("token %d: %v, want %q", i, err, want)
		}
	}

	// Refused: a forged list, a token posing as a list, an older list.
	forged := forge(`{"alg":"EdDSA","kid":"tok-a","typ":"signet-deny+jwt"}`, `{"iss":"x","iat":1900000000}`,
		func(in []byte) []byte { return ed25519.Sign(k.evil, in) })
	for _, tt := range []struct {
		name, list string
		err        error
	}{
		{"forged", forged, ErrSignature},
		{"a token", toks[2], ErrType},
		{"unknown field", forge(`{"alg":"EdDSA","kid":"tok-a","typ":"signet-deny+jwt"}`, `{"iss":"x","iat":1900000000,"allow":["*"]}`,
			func(in []byte) []byte { return ed25519.Sign(k.a, in) }), ErrMalformed},
	} {
		write(tt.list)
		if err := k.v.LoadDenyList(file); !errors.Is(err, tt.err) {
			t.Errorf("%s deny list: %v, want %v", tt.name, err, tt.err)
		}
	}
	write(mustDeny(t, k.a, "tok-a", DenyList{Issuer: "ops", IssuedAt: t0.Add(-time.Hour).Unix()}))
	if err := k.v.LoadDenyList(file); err == nil || !strings.Contains(err.Error(), "older than the one in force") {
		t.Errorf("rollback to an older list: %v", err)
	}
	if _, err := k.v.Verify(toks[0], t0); !errors.Is(err, ErrRevoked) {
		t.Errorf("after refused reloads the old list must stay in force: %v", err)
	}
	// A newer, empty list lifts the revocations.
	write(mustDeny(t, k.a, "tok-a", DenyList{Issuer: "ops", IssuedAt: t0.Add(time.Hour).Unix()}))
	if err := k.v.LoadDenyList(file); err != nil {
		t.Fatal(err)
	}
	if _, err := k.v.Verify(toks[0], t0); err != nil {
		t.Errorf("after a newer empty list: %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	k := newKeys(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := Sign(ec, "x", claims()); err == nil || !strings.Contains(err.Error(), "Ed25519") {
		t.Errorf("signing with ECDSA: %v", err)
	}
	c := claims()
	c.Expiry = c.NotBefore
	if _, err := Sign(k.a, "tok-a", c); !errors.Is(err, ErrMalformed) {
		t.Errorf("exp == nbf: %v", err)
	}
	if _, err := NewVerifier("", map[string]ed25519.PublicKey{"a": k.a.Public().(ed25519.PublicKey)}, 0); err == nil {
		t.Error("verifier without audience")
	}
	if _, err := NewVerifier("x", map[string]ed25519.PublicKey{"a": {1, 2}}, 0); err == nil {
		t.Error("verifier with a short key")
	}
}

// BenchmarkVerify measures the cost a token adds to a request: a worker
// presents the same token again and again (cached), and the first use of
// a token pays for the signature (cold).
func BenchmarkVerify(b *testing.B) {
	k := newKeys(b)
	tok := mustSign(b, k.a, "tok-a", claims())
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.v.Verify(tok, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			clear(k.v.verified)
			if _, err := k.v.Verify(tok, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
