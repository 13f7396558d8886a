package keylist

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func sampleList(t testing.TB) (*List, []*ecdsa.PrivateKey) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var privs []*ecdsa.PrivateKey
	l := &List{Key: "release", KeyType: "ecdsa-p256", Usage: "raw", Serial: 3, Issued: t0.Add(30 * 24 * time.Hour)}
	for i, st := range []string{Revoked, Retired, Active} {
		p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		privs = append(privs, p)
		v, err := NewVersion(i+1, st, p.Public())
		if err != nil {
			t.Fatal(err)
		}
		v.NotBefore = t0.Add(time.Duration(i) * 7 * 24 * time.Hour)
		if st != Active {
			v.NotAfter = v.NotBefore.Add(7 * 24 * time.Hour)
		}
		if st == Revoked {
			v.Revoked, v.Reason = t0.Add(20*24*time.Hour), "compromised"
		}
		l.Versions = append(l.Versions, v)
	}
	return l, privs
}

func TestSignVerifyCheck(t *testing.T) {
	_, root, _ := ed25519.GenerateKey(rand.Reader)
	l, privs := sampleList(t)
	env, err := Sign(l, root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(env, root.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != "release" || got.Serial != 3 || len(got.Versions) != 3 || !got.Versions[0].Revoked.Equal(l.Versions[0].Revoked) {
		t.Fatalf("round trip: %+v", got)
	}
	in := func(v int, d time.Duration) time.Time { return got.Versions[v].NotBefore.Add(d) }
	for _, tc := range []struct {
		v   int
		at  time.Time
		bad string
	}{
		{0, in(0, time.Hour), "revoked"},
		{1, in(1, time.Hour), ""},
		{1, in(1, 8*24*time.Hour), "not at"},
		{1, time.Time{}, ""},
		{2, in(2, 1000*time.Hour), ""},
		{2, in(2, -time.Hour), "not at"},
	} {
		_, err := got.Check(privs[tc.v].Public(), tc.at)
		if (err == nil) != (tc.bad == "") || err != nil && !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("Check(version %d, %v) = %v, want %q", tc.v+1, tc.at, err, tc.bad)
		}
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := got.Check(other.Public(), time.Time{}); err == nil {
		t.Error("Check accepted a key that is no version")
	}

	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := Verify(env, mallory.Public()); !errors.Is(err, ErrVerify) {
		t.Errorf("another root: %v", err)
	}
	// Un-revoking version 1 in the payload breaks the signature.
	var e map[string]any
	json.Unmarshal(env, &e)
	payload, _ := json.Marshal(e["payload"])
	var pl []byte
	json.Unmarshal(payload, &pl)
	pl = bytes.Replace(pl, []byte(`"state":"revoked"`), []byte(`"state":"retired"`), 1)
	e["payload"] = pl
	forged, _ := json.Marshal(e)
	if _, err := Verify(forged, root.Public()); err == nil {
		t.Error("a list edited after signing verifies")
	}
	// A list signed by a non-Ed25519 root is refused at signing.
	if _, err := Sign(l, privs[2]); err == nil {
		t.Error("Sign accepted an ECDSA root")
	}
}

func TestParseRefuses(t *testing.T) {
	l, _ := sampleList(t)
	l.Type = Type
	good, _ := json.Marshal(l)
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(s string) string{
		"unknown-field":   func(s string) string { return strings.Replace(s, `"serial"`, `"extra":1,"serial"`, 1) },
		"wrong-type":      func(s string) string { return strings.Replace(s, Type, "https://example.org/v9", 1) },
		"two-active":      func(s string) string { return strings.Replace(s, `"state":"retired"`, `"state":"active"`, 1) },
		"bad-state":       func(s string) string { return strings.Replace(s, `"state":"retired"`, `"state":"dormant"`, 1) },
		"revoked-no-time": func(s string) string { return strings.Replace(s, `"state":"retired"`, `"state":"revoked"`, 1) },
		"fingerprint": func(s string) string {
			return strings.Replace(s, `"fingerprint":"SHA256:`, `"fingerprint":"SHA256:A`, 1)
		},
		"order":    func(s string) string { return strings.Replace(s, `"version":3`, `"version":1`, 1) },
		"trailing": func(s string) string { return s + "{}" },
		"blank-key-name": func(s string) string {
			return regexp.MustCompile(`"key":"[^"]*"`).ReplaceAllString(s, `"key":" "`)
		},
	} {
		if _, err := Parse([]byte(edit(string(good)))); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	l, _ := sampleList(f)
	l.Type = Type
	good, _ := json.Marshal(l)
	f.Add(good)
	f.Add([]byte(`{"type":"https://signet.dev/key-list/v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("re-parsing %s: %v", again, err)
		}
	})
}
