package frost_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/signet-dev/signet/cot/cottest"
	"github.com/signet-dev/signet/format/cot"
	"github.com/signet-dev/signet/format/minisign"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/format/sshsig"
	"github.com/signet-dev/signet/threshold/frost"
)

// quorumSigner is a crypto.Signer that runs both FROST rounds with a
// quorum of key shares in this process and returns the aggregate. It exists
// for tests only: holding a quorum in one place is what threshold signing
// avoids. It shows that the formats take a threshold key's signature as an
// ordinary Ed25519 one.
type quorumSigner struct {
	g       *frost.GroupInfo
	signers []*frost.KeyShare
	store   frost.NonceStore
}

func (q *quorumSigner) Public() crypto.PublicKey { return q.g.PublicKey() }

func (q *quorumSigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != 0 {
		return nil, errors.New("quorumSigner: Ed25519 signs the message itself, not a digest")
	}
	var nonces []*frost.SigningNonces
	var comms []frost.SigningCommitment
	for _, k := range q.signers {
		n, err := k.Commit(rand.Reader)
		if err != nil {
			return nil, err
		}
		nonces = append(nonces, n)
		comms = append(comms, n.Commitment)
	}
	var shares []frost.SignatureShare
	for i, k := range q.signers {
		s, err := k.Sign(q.store, nonces[i], msg, comms)
		if err != nil {
			return nil, err
		}
		shares = append(shares, s)
	}
	return q.g.Aggregate(comms, msg, shares)
}

func need(t *testing.T, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s is required (Debian %s); run ./scripts/test, which installs it", tool, pkg)
	}
}

// TestFormatsAcceptThresholdSignatures signs with a 2-of-3 key through
// format/sshsig, format/openpgp, format/minisign and format/cot and has
// ssh-keygen -Y verify, gpgv, minisign -V and the chain-of-trust verifier
// check the results (and refuse them for another file).
func TestFormatsAcceptThresholdSignatures(t *testing.T) {
	need(t, "ssh-keygen", "openssh-client")
	need(t, "gpgv", "gpgv")
	need(t, "minisign", "minisign")
	shares, g, err := frost.TrustedDealerKeygen(rand.Reader, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	q := &quorumSigner{g: g, signers: []*frost.KeyShare{shares[1], shares[2]}, store: &frost.MemoryNonceStore{}}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	data := []byte("release-1.0.tar.gz contents\n")
	dataPath := write("data", data)
	otherPath := write("other", append(bytes.Clone(data), '!'))

	t.Run("ssh-keygen", func(t *testing.T) {
		digest := sha512.Sum512(data)
		sig, err := sshsig.Sign(q, "file", crypto.SHA512, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		ak, err := sshsig.AuthorizedKey(g.PublicKey(), "")
		if err != nil {
			t.Fatal(err)
		}
		allowed := write("allowed_signers", append([]byte("release@example.org "), ak...))
		sigPath := write("data.sig", sig.Armor())
		run := func(msg string) (string, error) {
			f, err := os.Open(msg)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "release@example.org", "-n", "file", "-s", sigPath)
			cmd.Stdin = f
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run(dataPath); err != nil || !strings.Contains(out, "Good") {
			t.Fatalf("ssh-keygen refused the threshold signature: %v\n%s", err, out)
		}
		if out, err := run(otherPath); err == nil {
			t.Fatalf("ssh-keygen accepted the signature for another file:\n%s", out)
		}
	})

	t.Run("gpgv", func(t *testing.T) {
		key, err := openpgp.NewKey(g.PublicKey(), time.Now().Add(-time.Hour).Truncate(time.Second), "Threshold release key <release@example.org>")
		if err != nil {
			t.Fatal(err)
		}
		s, err := openpgp.NewSigner(key, q)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := s.Certificate()
		if err != nil {
			t.Fatal(err)
		}
		ring := write("key.gpg", cert)
		h := sha256.New()
		h.Write(data)
		sig, err := s.Detached(h, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sigPath := write("data.gpg-sig", sig)
		home := t.TempDir()
		gpgv := func(msg string) (string, error) {
			out, err := exec.Command("gpgv", "--homedir", home, "--keyring", ring, sigPath, msg).CombinedOutput()
			return string(out), err
		}
		if out, err := gpgv(dataPath); err != nil || !strings.Contains(out, "Good signature") {
			t.Fatalf("gpgv refused the threshold signature: %v\n%s", err, out)
		}
		if out, err := gpgv(otherPath); err == nil {
			t.Fatalf("gpgv accepted the signature for another file:\n%s", out)
		}
	})

	t.Run("minisign", func(t *testing.T) {
		pub, err := minisign.NewPublicKey(g.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		d := blake2b.Sum512(data)
		sig, err := minisign.Sign(q, pub.ID, d[:], "timestamp:1700000000\tfile:data\thashed", "threshold signature")
		if err != nil {
			t.Fatal(err)
		}
		pubPath := write("minisign.pub", pub.Marshal())
		run := func(msg string) (string, error) {
			if err := os.WriteFile(msg+".minisig", sig.Marshal(), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("minisign", "-V", "-p", pubPath, "-m", msg).CombinedOutput()
			return string(out), err
		}
		if out, err := run(dataPath); err != nil || !strings.Contains(out, "verified") {
			t.Fatalf("minisign refused the threshold signature: %v\n%s", err, out)
		}
		if out, err := run(otherPath); err == nil {
			t.Fatalf("minisign accepted the signature for another file:\n%s", out)
		}
	})

	t.Run("cot", func(t *testing.T) {
		cg := cottest.New(cottest.Options{})
		doc := cg.ServedData(cg.ByRole["build-windows"].ID, "public/chain-of-trust.json")
		sig, _, err := cot.Sign(q, doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := cot.Verify(g.PublicKey(), doc, sig); err != nil {
			t.Fatalf("the chain-of-trust verifier refused the threshold signature: %v", err)
		}
		if err := cot.Verify(g.PublicKey(), append(bytes.Clone(doc), ' '), sig); err == nil {
			t.Fatal("the chain-of-trust verifier accepted the signature for another document")
		}
	})
}
