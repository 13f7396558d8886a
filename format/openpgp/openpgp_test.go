package openpgp

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// testKeys are one Ed25519 and one RSA-4096 signer, made once: RSA key
// generation is slow.
var testKeys = sync.OnceValue(func() []*Signer {
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		panic(err)
	}
	var out []*Signer
	for _, p := range []crypto.Signer{edPriv, rsaPriv} {
		k, err := NewKey(p.Public(), created, "Signet Test <test@example.org>")
		if err != nil {
			panic(err)
		}
		s, err := NewSigner(k, p)
		if err != nil {
			panic(err)
		}
		out = append(out, s)
	}
	return out
})

func keyName(s *Signer) string {
	if _, ok := s.key.pub.(ed25519.PublicKey); ok {
		return "ed25519"
	}
	return "rsa4096"
}

func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is required (Debian package gnupg); run ./scripts/test, which installs it", name)
	}
}

// keyring writes s's certificate where gpgv --keyring reads it.
func keyring(t testing.TB, s *Signer) string {
	t.Helper()
	cert, err := s.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.gpg")
	if err := os.WriteFile(p, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func gpgv(dir, ring string, args ...string) ([]byte, error) {
	cmd := exec.Command("gpgv", append([]string{"--homedir", dir, "--keyring", ring}, args...)...)
	return cmd.CombinedOutput()
}

// detached signs data through a hash state, as a remote client would.
func detached(t testing.TB, s *Signer, data []byte) []byte {
	t.Helper()
	h := sha256.New()
	h.Write(data)
	st, err := StateOf(h)
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Resume()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.Detached(r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestCertificateImports(t *testing.T) {
	needTool(t, "gpg")
	for _, s := range testKeys() {
		t.Run(keyName(s), func(t *testing.T) {
			home := t.TempDir()
			cert, err := s.Certificate()
			if err != nil {
				t.Fatal(err)
			}
			again, _ := s.Certificate()
			if !bytes.Equal(cert, again) {
				t.Error("Certificate is not deterministic")
			}
			f := filepath.Join(home, "key.asc")
			os.WriteFile(f, Armor(cert, "PGP PUBLIC KEY BLOCK"), 0o600)
			out, err := exec.Command("gpg", "--homedir", home, "--batch", "--import", f).CombinedOutput()
			if err != nil {
				t.Fatalf("gpg --import: %v\n%s", err, out)
			}
			out, err = exec.Command("gpg", "--homedir", home, "--batch", "--with-colons", "--fingerprint", "--list-keys").CombinedOutput()
			if err != nil {
				t.Fatalf("gpg --list-keys: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "fpr:::::::::"+s.key.FingerprintHex()+":") {
				t.Errorf("gpg lists another fingerprint than %s:\n%s", s.key.FingerprintHex(), out)
			}
			if !strings.Contains(string(out), "uid:-::::"+fmt.Sprint(s.key.created.Unix())) && !strings.Contains(string(out), "Signet Test <test@example.org>") {
				t.Errorf("gpg does not list the user id:\n%s", out)
			}
			if !strings.Contains(string(out), fmt.Sprintf(":%d:", s.key.created.Unix())) {
				t.Errorf("gpg does not list the creation time %d:\n%s", s.key.created.Unix(), out)
			}
			ent, err := ReadCertificate(cert)
			if err != nil {
				t.Fatalf("go-crypto rejects the certificate: %v", err)
			}
			if ent.PrimaryKey.Fingerprint == nil || !bytes.Equal(ent.PrimaryKey.Fingerprint, s.key.fp[:]) {
				t.Errorf("go-crypto fingerprint %x, want %x", ent.PrimaryKey.Fingerprint, s.key.fp)
			}
		})
	}
}

// randomText returns text with the shapes that break cleartext signing:
// dash lines, armor lines, trailing blanks, CRLF, empty lines, no final
// newline, non-ASCII.
func randomText(r *mrand.Rand) []byte {
	frags := []string{"", "-", "- x", "--", "-----BEGIN PGP SIGNATURE-----", "-----END PGP SIGNATURE-----", "From here", " ", "\t", "trailing  ", "tab\t", "ünïcödé ✓", "a\tb", "=ABCD", "Hash: SHA1", "Origin: Signet", " SHA256:", "x"}
	var b bytes.Buffer
	n := r.IntN(12)
	eol := "\n"
	if r.IntN(4) == 0 {
		eol = "\r\n"
	}
	for i := 0; i < n; i++ {
		switch r.IntN(3) {
		case 0:
			b.WriteString(frags[r.IntN(len(frags))])
		case 1:
			for j := r.IntN(120); j > 0; j-- {
				b.WriteByte(byte(0x20 + r.IntN(0x5f)))
			}
		default:
			b.WriteString(frags[r.IntN(len(frags))])
			b.WriteString(frags[r.IntN(len(frags))])
		}
		if i < n-1 || r.IntN(2) == 0 {
			b.WriteString(eol)
		}
	}
	return b.Bytes()
}

// TestGPGV has gpgv check detached (binary and armored) and clearsigned
// signatures of 200 random inputs for each key type, and reject each one
// after its input is changed.
func TestGPGV(t *testing.T) {
	needTool(t, "gpgv")
	const n = 200
	for _, s := range testKeys() {
		t.Run(keyName(s), func(t *testing.T) {
			t.Parallel()
			ring := keyring(t, s)
			cert, _ := s.Certificate()
			dir := t.TempDir()
			r := mrand.New(mrand.NewPCG(uint64(len(keyName(s))), 1))
			for i := 0; i < n; i++ {
				// Detached, over random bytes of random length.
				data := make([]byte, r.IntN(3000))
				for j := range data {
					data[j] = byte(r.Uint32())
				}
				sig := detached(t, s, data)
				if i%2 == 1 {
					sig = Armor(sig, "PGP SIGNATURE")
				}
				df, sf := filepath.Join(dir, "data"), filepath.Join(dir, "data.sig")
				os.WriteFile(df, data, 0o600)
				os.WriteFile(sf, sig, 0o600)
				if out, err := gpgv(dir, ring, sf, df); err != nil {
					t.Fatalf("input %d: gpgv rejects the detached signature of %d bytes: %v\n%s", i, len(data), err, out)
				}
				if err := CheckDetached(cert, sha256Of(data), sig); err != nil {
					t.Fatalf("input %d: go-crypto rejects the detached signature: %v", i, err)
				}
				if i%10 == 0 {
					os.WriteFile(df, append(data, 'x'), 0o600)
					if out, err := gpgv(dir, ring, sf, df); err == nil {
						t.Fatalf("input %d: gpgv accepts the detached signature for changed data:\n%s", i, out)
					}
				}

				// Clearsigned random text.
				text := randomText(r)
				msg, err := s.Clearsign(text, time.Now())
				if err != nil {
					t.Fatalf("input %d: Clearsign(%q): %v", i, text, err)
				}
				mf, of := filepath.Join(dir, "msg.asc"), filepath.Join(dir, "out.txt")
				os.WriteFile(mf, msg, 0o600)
				os.Remove(of)
				if out, err := gpgv(dir, ring, "--output", of, mf); err != nil {
					t.Fatalf("input %d: gpgv rejects the clearsigned text %q: %v\n%s\n%s", i, text, err, out, msg)
				}
				got, _ := os.ReadFile(of)
				if want := canonical(text); canonical(got) != want {
					t.Fatalf("input %d: gpgv outputs %q, want %q", i, got, want)
				}
				if _, err := CheckClearsigned(cert, msg); err != nil {
					t.Fatalf("input %d: go-crypto rejects the clearsigned text %q: %v\n%s", i, text, err, msg)
				}
				if i%10 == 0 {
					bad := bytes.Replace(msg, []byte("Hash: SHA256\n\n"), []byte("Hash: SHA256\n\nX"), 1)
					os.WriteFile(mf, bad, 0o600)
					if out, err := gpgv(dir, ring, mf); err == nil {
						t.Fatalf("input %d: gpgv accepts changed clearsigned text:\n%s\n%s", i, out, bad)
					}
				}
			}
		})
	}
}

// canonical is text as a cleartext signature covers it, with LF endings.
func canonical(text []byte) string {
	lines, err := textLines(text)
	if err != nil {
		panic(err)
	}
	var b []string
	for _, l := range lines {
		b = append(b, strings.TrimRight(string(l), " \t"))
	}
	return strings.Join(b, "\n")
}

func sha256Of(data []byte) interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
	Reset()
	Size() int
	BlockSize() int
} {
	h := sha256.New()
	h.Write(data)
	return h
}

func TestWrongKeyRejected(t *testing.T) {
	needTool(t, "gpgv")
	keys := testKeys()
	data := []byte("release notes\n")
	sig := detached(t, keys[0], data)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "d"), data, 0o600)
	os.WriteFile(filepath.Join(dir, "d.sig"), sig, 0o600)
	if out, err := gpgv(dir, keyring(t, keys[1]), filepath.Join(dir, "d.sig"), filepath.Join(dir, "d")); err == nil {
		t.Fatalf("gpgv accepts an Ed25519 signature with the RSA key:\n%s", out)
	}
	cert, _ := keys[1].Certificate()
	if err := CheckDetached(cert, sha256Of(data), sig); err == nil {
		t.Fatal("CheckDetached accepts a signature by another key")
	}
}

func TestClearsignRefusesBinary(t *testing.T) {
	s := testKeys()[0]
	for _, text := range []string{"a\x00b", "a\rb\n", "\xff\xfe", strings.Repeat("x", MaxLineBytes+1)} {
		if _, err := s.Clearsign([]byte(text), time.Now()); err == nil {
			t.Errorf("Clearsign(%.20q) succeeded", text)
		}
	}
}

func TestNewKeyChecks(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	if _, err := NewKey(priv.Public(), now, ""); err == nil {
		t.Error("NewKey accepted an empty user id")
	}
	if _, err := NewKey(priv.Public(), now, "a\nb"); err == nil {
		t.Error("NewKey accepted a user id with a newline")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewKey(&small.PublicKey, now, "x"); err == nil {
		t.Error("NewKey accepted RSA-1024")
	}
	k, _ := NewKey(priv.Public(), now, "x")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := NewSigner(k, other); err == nil {
		t.Error("NewSigner accepted a signer for another key")
	}
}

func TestHashState(t *testing.T) {
	for _, n := range []int{0, 1, 55, 63, 64, 65, 1000} {
		data := bytes.Repeat([]byte{0xA5}, n)
		h := sha256.New()
		h.Write(data[:n/2])
		st, err := StateOf(h)
		if err != nil {
			t.Fatal(err)
		}
		if st.Length != int64(n/2) || len(st.Tail) != n/2%64 {
			t.Fatalf("n=%d: state %+v", n, st)
		}
		r, err := st.Resume()
		if err != nil {
			t.Fatal(err)
		}
		r.Write(data[n/2:])
		if got, want := r.Sum(nil), sha256.Sum256(data); !bytes.Equal(got, want[:]) {
			t.Fatalf("n=%d: resumed hash differs", n)
		}
	}
	bad := []HashState{
		{Chain: make([]byte, 31)},
		{Chain: make([]byte, 32), Length: -1},
		{Chain: make([]byte, 32), Length: 65},
		{Chain: make([]byte, 32), Tail: []byte{1}, Length: 0},
	}
	for _, st := range bad {
		if _, err := st.Resume(); err == nil {
			t.Errorf("Resume(%+v) succeeded", st)
		}
	}
}

func FuzzResume(f *testing.F) {
	f.Add(make([]byte, 32), []byte{}, int64(0))
	f.Add(make([]byte, 32), []byte{1, 2, 3}, int64(67))
	f.Add(make([]byte, 31), []byte{}, int64(-5))
	f.Fuzz(func(t *testing.T, chain, tail []byte, n int64) {
		h, err := HashState{Chain: chain, Tail: tail, Length: n}.Resume()
		if err != nil {
			return
		}
		st, err := StateOf(h)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(st.Chain, chain) || !bytes.Equal(st.Tail, tail) || st.Length != n {
			t.Fatalf("state does not round-trip")
		}
	})
}

// FuzzClearsign checks that whatever text Clearsign accepts, go-crypto
// verifies, and that it never panics.
func FuzzClearsign(f *testing.F) {
	for _, s := range []string{"", "a", "a\n", "-x\n- y\r\n", "trail \t\nx", "\xff", "a\rb", "-----BEGIN PGP SIGNATURE-----\n"} {
		f.Add([]byte(s))
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := NewKey(priv.Public(), time.Unix(1700000000, 0), "fuzz <fuzz@example.org>")
	s, _ := NewSigner(k, priv)
	cert, _ := s.Certificate()
	f.Fuzz(func(t *testing.T, text []byte) {
		msg, err := s.Clearsign(text, time.Unix(1700000001, 0))
		if err != nil {
			return
		}
		got, err := CheckClearsigned(cert, msg)
		if err != nil {
			t.Fatalf("Clearsign(%q) does not verify: %v\n%s", text, err, msg)
		}
		// What a client compares the verified text with.
		if want, err := Cleartext(text); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Cleartext(%q) = %q, %v; the verifier decoded %q", text, want, err, got)
		}
	})
}

// TestCleartext: the text a cleartext signature carries, for the files
// whose last line is empty or blank, with trailing blanks, without a final
// line ending, with CRLF endings or dash-escaped lines — what go-crypto
// decodes from Clearsign's output, and what gpgv says it verified.
func TestCleartext(t *testing.T) {
	needTool(t, "gpgv")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := NewKey(priv.Public(), time.Unix(1700000000, 0), "t <t@example.org>")
	s, _ := NewSigner(k, priv)
	cert, _ := s.Certificate()
	dir := t.TempDir()
	keyring := filepath.Join(dir, "cert.gpg")
	if err := os.WriteFile(keyring, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ text, want string }{
		{"a\n\n", "a\n"},
		{"a \n", "a"},
		{"a\n \n", "a\n"},
		{"a\n\t \n", "a\n"},
		{"a", "a"},
		{"a\r\n", "a"},
		{"a\r\nb \r\n\r\n", "a\nb\n"},
		{"", ""},
		{"\n", ""},
		{"\n\n", "\n"},
		{"- dash\n-----BEGIN PGP SIGNATURE-----\n", "- dash\n-----BEGIN PGP SIGNATURE-----"},
		{"x\n\n\n", "x\n\n"},
	} {
		got, err := Cleartext([]byte(tt.text))
		if err != nil || string(got) != tt.want {
			t.Errorf("Cleartext(%q) = %q, %v; want %q", tt.text, got, err, tt.want)
		}
		msg, err := s.Clearsign([]byte(tt.text), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := CheckClearsigned(cert, msg)
		if err != nil || string(decoded) != tt.want {
			t.Errorf("Clearsign(%q) decodes to %q, %v; want %q", tt.text, decoded, err, tt.want)
		}
		asc := filepath.Join(dir, "msg.asc")
		out := filepath.Join(dir, "msg.out")
		os.Remove(out)
		if err := os.WriteFile(asc, msg, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("gpgv", "--homedir", dir, "--keyring", keyring, "--output", out, asc)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("gpgv refuses the clearsigned %q: %v\n%s", tt.text, err, b)
			continue
		}
		// gpgv writes each signed line with its line ending: the signed
		// text is the cleartext, whose last line ending is not signed.
		verified, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if v := strings.TrimSuffix(strings.ReplaceAll(string(verified), "\r\n", "\n"), "\n"); v != tt.want {
			t.Errorf("gpgv verified %q for %q; want %q", verified, tt.text, tt.want)
		}
	}
}

// TestStateCannotCertify feeds the signer exactly what a certification of
// a new user id hashes before its trailer, as a hostile client could, and
// checks that the result is still only a binary-document signature: gpg
// refuses a certificate that uses it as the user id's self-signature.
func TestStateCannotCertify(t *testing.T) {
	needTool(t, "gpg")
	for _, s := range testKeys() {
		t.Run(keyName(s), func(t *testing.T) {
			k := s.Key()
			evil := "Mallory <mallory@example.org>"
			h := sha256.New()
			k.writeKeyHash(h)
			h.Write([]byte{0xB4, 0, 0, 0, byte(len(evil))})
			h.Write([]byte(evil))
			st, _ := StateOf(h)
			r, _ := st.Resume()
			sig, err := s.Detached(r, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			p, err := packet.Read(bytes.NewReader(sig))
			if ps, ok := p.(*packet.Signature); err != nil || !ok || ps.Version != 4 || ps.SigType != packet.SigTypeBinary {
				t.Fatalf("got %#v, %v; want a v4 binary-document signature", p, err)
			}
			forged := appendPacket(nil, tagPublicKey, k.body)
			forged = appendPacket(forged, tagUserID, []byte(evil))
			forged = append(forged, sig...)
			home := t.TempDir()
			f := filepath.Join(home, "forged.gpg")
			os.WriteFile(f, forged, 0o600)
			out, _ := exec.Command("gpg", "--homedir", home, "--batch", "--import", f).CombinedOutput()
			list, _ := exec.Command("gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys").CombinedOutput()
			if strings.Contains(string(list), "Mallory") {
				t.Fatalf("gpg accepted a user id certified through a hash state:\n%s\n%s", out, list)
			}
			if _, err := ReadCertificate(forged); err == nil {
				t.Fatal("go-crypto accepted a user id certified through a hash state")
			}
		})
	}
}
