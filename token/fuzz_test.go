package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to the token and deny-list parsers.
// Seeds signed with this run's keys are added here; testdata/fuzz/FuzzVerify
// holds malformed shapes (headers, encodings, claims) that need no key.
// Whatever is accepted must be a complete, canonical token; whatever is
// refused must be refused with one of the package's errors.
func FuzzVerify(f *testing.F) {
	k := newKeys(f)
	c := claims()
	c.Confirm = &Confirmation{CertSHA256: "x"}
	f.Add(mustSign(f, k.a, "tok-a", c))
	f.Add(mustSign(f, k.b, "tok-b", claims()))
	f.Add(mustDeny(f, k.a, "tok-a", DenyList{Issuer: "ops", IssuedAt: t0.Unix(), IDs: []string{"x"}}))
	sentinels := []error{ErrMalformed, ErrEncoding, ErrType, ErrAlgorithm, ErrUnknownKey, ErrSignature, ErrAudience, ErrNotYetValid, ErrExpired, ErrRevoked}
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := k.v.Verify(tok, t0)
		if err != nil {
			if got != nil {
				t.Fatal("claims returned with an error")
			}
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %q matches %d sentinels, want 1", err, n)
			}
		} else {
			if err := got.check(); err != nil {
				t.Fatalf("accepted claims that fail check: %v", err)
			}
			if got.Audience != "prod" || got.Expiry < t0.Add(-time.Minute).Unix() {
				t.Fatalf("accepted %+v", got)
			}
			if strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, "=+/ \n") {
				t.Fatalf("accepted non-canonical token %q", tok)
			}
		}
		if d, err := k.v.ParseDenyList(tok); err == nil && (d.Issuer == "" || d.IssuedAt <= 0) {
			t.Fatalf("accepted deny list %+v", d)
		}
	})
}
