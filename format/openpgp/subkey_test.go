package openpgp

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// windowed is a primary key that only certifies and two signing subkeys,
// one per window: window 1 ended ten days ago after a week, window 2 runs
// from then for a year.
type windowed struct {
	primary    *Signer
	subs       [2]*Signer
	backs      [2][]byte
	start, mid time.Time // window 1 is [start, mid), window 2 [mid, mid+1y)
}

func newWindowed(t *testing.T, name string) *windowed {
	t.Helper()
	w := &windowed{start: time.Now().Add(-17 * 24 * time.Hour).Truncate(time.Second)}
	w.mid = w.start.Add(7 * 24 * time.Hour)
	var primary crypto.Signer
	var gen func() crypto.Signer
	switch name {
	case "ed25519":
		_, p, _ := ed25519.GenerateKey(rand.Reader)
		primary = p
		gen = func() crypto.Signer { _, p, _ := ed25519.GenerateKey(rand.Reader); return p }
	case "rsa":
		primary = testKeys()[1].signer
		gen = func() crypto.Signer {
			p, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	pk, err := NewCertifyingKey(primary.Public(), w.start.Add(-time.Hour), "Rotating <rotating@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	if w.primary, err = NewSigner(pk, primary); err != nil {
		t.Fatal(err)
	}
	for i, created := range []time.Time{w.start, w.mid} {
		priv := gen()
		sk, err := NewSubkey(priv.Public(), created)
		if err != nil {
			t.Fatal(err)
		}
		if w.subs[i], err = NewSubkeySigner(pk, sk, priv); err != nil {
			t.Fatal(err)
		}
		if w.backs[i], err = BackSignature(pk, sk, priv); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// certificate is the certificate with both subkeys, window 1 revoked if
// revoked is not nil.
func (w *windowed) certificate(t *testing.T, revoked *Revocation) []byte {
	t.Helper()
	cert, err := w.primary.Certificate(
		// Window 1 was rotated out at mid: its binding is dated then.
		Subkey{Key: w.subs[0].Key(), Bound: w.mid, Expires: w.mid, BackSig: w.backs[0], Revoked: revoked},
		Subkey{Key: w.subs[1].Key(), Bound: w.mid, Expires: w.mid.Add(365 * 24 * time.Hour), BackSig: w.backs[1]},
	)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func gpgRun(home string, args ...string) (string, error) {
	out, err := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--status-fd", "1"}, args...)...).CombinedOutput()
	return string(out), err
}

// TestSubkeyWindowsAndRevocation is the proof the rotation design rests
// on, checked by GnuPG itself: signatures by the subkeys of two windows
// both verify against the primary key alone; after window 1's subkey is
// revoked and the certificate imported again, gpg reports window-1
// signatures as made by a revoked key and gpgv refuses them, while
// window-2 signatures stay good.
func TestSubkeyWindowsAndRevocation(t *testing.T) {
	needTool(t, "gpg")
	needTool(t, "gpgv")
	for _, name := range []string{"ed25519", "rsa"} {
		t.Run(name, func(t *testing.T) {
			w := newWindowed(t, name)
			dir := t.TempDir()
			home := filepath.Join(dir, "gnupg")
			os.Mkdir(home, 0o700)
			data := [2][]byte{[]byte("built in window one\n"), []byte("built in window two\n")}
			var files, sigs [2]string
			for i := range 2 {
				at := w.start.Add(24 * time.Hour)
				if i == 1 {
					at = w.mid.Add(24 * time.Hour)
				}
				sig, err := w.subs[i].Detached(sha256Of(data[i]), at)
				if err != nil {
					t.Fatal(err)
				}
				files[i] = filepath.Join(dir, "w"+string(rune('1'+i)))
				sigs[i] = files[i] + ".sig"
				os.WriteFile(files[i], data[i], 0o600)
				os.WriteFile(sigs[i], sig, 0o600)
			}
			certFile := filepath.Join(dir, "cert.gpg")
			os.WriteFile(certFile, w.certificate(t, nil), 0o600)
			if out, err := gpgRun(home, "--import", certFile); err != nil {
				t.Fatalf("gpg --import: %v\n%s", err, out)
			}
			for i := range 2 {
				// Window 1's subkey has expired since it signed: gpg
				// says so (EXPKEYSIG) and calls the signature good.
				status := []string{"[GNUPG:] EXPKEYSIG", "[GNUPG:] GOODSIG"}[i]
				out, err := gpgRun(home, "--verify", sigs[i], files[i])
				if err != nil || !strings.Contains(out, status) || !strings.Contains(out, "Good signature") || !strings.Contains(out, "[GNUPG:] VALIDSIG "+w.subs[i].Key().FingerprintHex()) {
					t.Fatalf("window %d: gpg --verify: %v\n%s", i+1, err, out)
				}
				if out, err := gpgv(dir, certFile, sigs[i], files[i]); err != nil {
					t.Fatalf("window %d: gpgv: %v\n%s", i+1, err, out)
				}
				if err := CheckDetached(w.certificate(t, nil), sha256Of(data[i]), mustRead(t, sigs[i])); err != nil {
					t.Fatalf("window %d: CheckDetached: %v", i+1, err)
				}
			}

			// Revoke window 1 and import the certificate again.
			rev := &Revocation{Time: w.mid.Add(48 * time.Hour), Reason: ReasonCompromised, Text: "window 1 compromised"}
			revoked := w.certificate(t, rev)
			os.WriteFile(certFile, revoked, 0o600)
			if out, err := gpgRun(home, "--import", certFile); err != nil {
				t.Fatalf("gpg --import of the revocation: %v\n%s", err, out)
			}
			// gpg and gpgv refuse window-1 signatures now, naming the
			// subkey, and gpg lists it as revoked for its reason.
			keyID := w.subs[0].Key().FingerprintHex()[24:]
			out, err := gpgRun(home, "--verify", sigs[0], files[0])
			if err == nil || strings.Contains(out, "GOODSIG") || !strings.Contains(out, "[GNUPG:] ERRSIG "+keyID) {
				t.Fatalf("gpg --verify accepts a window-1 signature after revocation: %v\n%s", err, out)
			}
			list, err := gpgRun(home, "--with-colons", "--list-keys")
			if err != nil || !strings.Contains(list, "\nsub:r:") {
				t.Fatalf("gpg does not list window 1's subkey as revoked: %v\n%s", err, list)
			}
			sigList, _ := gpgRun(home, "--with-colons", "--list-options", "show-unusable-subkeys", "--list-sigs")
			if !strings.Contains(sigList, "\nrev:") || !strings.Contains(sigList, ":28x,02:") || !strings.Contains(sigList, "window 1 compromised") {
				t.Fatalf("gpg --list-sigs does not show the subkey revocation:\n%s", sigList)
			}
			if out, err := gpgv(dir, certFile, sigs[0], files[0]); err == nil {
				t.Fatalf("gpgv with the updated keyring accepts a signature by the revoked subkey:\n%s", out)
			}
			if err := CheckDetached(revoked, sha256Of(data[0]), mustRead(t, sigs[0])); err == nil {
				t.Fatal("CheckDetached accepts a signature by the revoked subkey")
			}
			out, err = gpgRun(home, "--verify", sigs[1], files[1])
			if err != nil || !strings.Contains(out, "[GNUPG:] GOODSIG") {
				t.Fatalf("window 2 after revoking window 1: gpg --verify: %v\n%s", err, out)
			}
			if out, err := gpgv(dir, certFile, sigs[1], files[1]); err != nil {
				t.Fatalf("window 2 after revoking window 1: gpgv: %v\n%s", err, out)
			}
			if err := CheckDetached(revoked, sha256Of(data[1]), mustRead(t, sigs[1])); err != nil {
				t.Fatalf("window 2 after revoking window 1: CheckDetached: %v", err)
			}
		})
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSubkeyRefusals covers what the subkey API must refuse.
func TestSubkeyRefusals(t *testing.T) {
	_, p, _ := ed25519.GenerateKey(rand.Reader)
	_, q, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1700000000, 0)
	primary, _ := NewCertifyingKey(p.Public(), now, "x <x@example.org>")
	sub, _ := NewSubkey(q.Public(), now.Add(time.Hour))
	ps, err := NewSigner(primary, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Detached(sha256Of(nil), now); err == nil {
		t.Error("a certify-only primary made a document signature")
	}
	if _, err := NewSigner(sub, q); err == nil {
		t.Error("NewSigner accepted a subkey")
	}
	if _, err := NewSubkeySigner(primary, sub, p); err == nil {
		t.Error("NewSubkeySigner accepted the primary's signer for the subkey")
	}
	ss, err := NewSubkeySigner(primary, sub, q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Certificate(); err == nil {
		t.Error("a subkey signer made a certificate")
	}
	if _, err := BackSignature(primary, sub, p); err == nil {
		t.Error("BackSignature accepted the primary's signer")
	}
	back, _ := BackSignature(primary, sub, q)
	for _, bad := range []Subkey{
		{Key: sub, Bound: now.Add(time.Hour)},                                                    // no back signature
		{Key: sub, Bound: now, BackSig: back},                                                    // bound before created
		{Key: sub, Bound: now.Add(time.Hour), Expires: now, BackSig: back},                       // expires before created
		{Key: primary, Bound: now, BackSig: back},                                                // not a subkey
		{Key: sub, Bound: now.Add(time.Hour), BackSig: back, Revoked: &Revocation{Text: "\xff"}}, // bad text
	} {
		if _, err := ps.Certificate(bad); err == nil {
			t.Errorf("Certificate accepted %+v", bad)
		}
	}
	cert, err := ps.Certificate(Subkey{Key: sub, Bound: now.Add(time.Hour), BackSig: back})
	if err != nil {
		t.Fatal(err)
	}
	ent, err := ReadCertificate(cert)
	if err != nil {
		t.Fatalf("go-crypto rejects the certificate: %v", err)
	}
	if len(ent.Subkeys) != 1 || !bytes.Equal(ent.Subkeys[0].PublicKey.Fingerprint, sub.fp[:]) {
		t.Fatalf("go-crypto reads %d subkeys", len(ent.Subkeys))
	}
	// A signature by the certify-only primary is refused by CheckDetached.
	legacy, _ := NewKey(p.Public(), now, "x <x@example.org>")
	ls, _ := NewSigner(legacy, p)
	sig, _ := ls.Detached(sha256Of([]byte("x")), now)
	if err := CheckDetached(cert, sha256Of([]byte("x")), sig); err == nil {
		t.Error("CheckDetached accepts a document signature by a primary that only certifies")
	}
	// A signature made before the subkey existed is refused.
	early, _ := ss.Detached(sha256Of([]byte("x")), now)
	if err := CheckDetached(cert, sha256Of([]byte("x")), early); err == nil {
		t.Error("CheckDetached accepts a subkey signature dated before the subkey")
	}
}
