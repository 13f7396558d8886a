package transition

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/envelope"
)

func TestSignVerify(t *testing.T) {
	old, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, nw, _ := ed25519.GenerateKey(rand.Reader)
	ok, _ := NewKey("release", "ecdsa-p256", "raw", old.Public())
	nk, _ := NewKey("release-2027", "ed25519", "raw", nw.Public())
	st := &Statement{Old: ok, New: nk, Time: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), Reason: "yearly"}
	env, err := Sign(st, old, nw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(env, old.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got.New.Name != "release-2027" || !got.New.Public().(ed25519.PublicKey).Equal(nw.Public()) || got.Reason != "yearly" {
		t.Fatalf("Verify: %+v", got)
	}
	// Trusting the new key is not trusting the old one.
	if _, err := Verify(env, nw.Public()); !errors.Is(err, ErrVerify) {
		t.Errorf("verified against the new key: %v", err)
	}
	// Signed by the old key alone, or by the old key twice: refused.
	payload, _, _ := envelope.Open(env, PayloadType)
	for name, signers := range map[string][]any{"old-only": {old}, "old-twice": {old, old}} {
		var env2 []byte
		if len(signers) == 1 {
			env2, _ = envelope.Sign(PayloadType, payload, old)
		} else {
			env2, _ = envelope.Sign(PayloadType, payload, old, old)
		}
		if _, err := Verify(env2, old.Public()); !errors.Is(err, ErrVerify) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A signer that does not hold the key named is refused at signing.
	if _, err := Sign(st, nw, old); err == nil {
		t.Error("Sign accepted the keys swapped")
	}
	// Same key on both sides.
	st2 := &Statement{Old: ok, New: ok, Time: st.Time}
	if _, err := Sign(st2, old, old); err == nil {
		t.Error("a transition from a key to itself was signed")
	}
}

func FuzzParse(f *testing.F) {
	old, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, nw, _ := ed25519.GenerateKey(rand.Reader)
	ok, _ := NewKey("a", "ecdsa-p256", "raw", old.Public())
	nk, _ := NewKey("b", "ed25519", "raw", nw.Public())
	b, _ := json.Marshal(&Statement{Type: Type, Old: ok, New: nk, Time: time.Unix(1700000000, 0).UTC()})
	f.Add(b)
	f.Add([]byte(`{"type":"` + Type + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := Parse(b)
		if err != nil {
			return
		}
		if st.Old.Public() == nil || st.New.Public() == nil || strings.TrimSpace(st.Old.Name) == "" && st.Old.Name != "" {
			t.Fatalf("Parse accepted %s without keys", b)
		}
		again, _ := json.Marshal(st)
		if _, err := Parse(again); err != nil {
			t.Fatalf("re-parsing %s: %v", again, err)
		}
	})
}
