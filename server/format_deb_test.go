package server_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/deb"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/internal/pkgtest"
	"github.com/signet-dev/signet/server"
)

func TestSignDeb(t *testing.T) {
	pkgtest.Require(t, "debsig-verify", "gpg")
	f := newPackagesFixture(t, server.Limits{})
	ctx := context.Background()
	dir := t.TempDir()
	path := pkgtest.BuildDeb(t, dir, pkgtest.Deb{Package: "hello", Version: "1:2.0-3", Arch: "all", Files: 4})
	cert, err := f.clients["packager"].OpenPGPKey(ctx, "deb-ed")
	if err != nil {
		t.Fatal(err)
	}
	policy := pkgtest.DebsigPolicy(t, dir, cert.Fingerprint, cert.Certificate)
	if out, err := pkgtest.CheckDeb(t, policy, path); err == nil {
		t.Fatalf("debsig-verify accepts the unsigned package:\n%s", out)
	}

	// The content a signature covers, as debsig-verify hashes it.
	file, _ := os.Open(path)
	fi, _ := file.Stat()
	p, err := deb.Open(file, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, p.SignedContent())
	contentSum := h.Sum(nil)
	st, _ := openpgp.StateOf(h)
	file.Close()

	sigs, err := f.clients["packager"].SignDebs(ctx, "deb-ed", []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := pkgtest.CheckDeb(t, policy, path); err != nil {
		t.Fatalf("debsig-verify: %v\n%s", err, out)
	}
	e := f.lastEntry(t)
	ssum := sha256.Sum256(sigs[0].Signature)
	want := map[string]string{"package": "hello", "version": "1:2.0-3", "architecture": "all", "member": "_gpgorigin", "openpgp_fingerprint": cert.Fingerprint}
	for k, v := range want {
		if e.Details[k] != v {
			t.Errorf("audit detail %s = %q, want %q", k, e.Details[k], v)
		}
	}
	if e.Format != "deb" || e.Artifact.Name != filepath.Base(path) || e.Artifact.Digests[0] != api.Digest(crypto.SHA256, contentSum) || e.Artifact.Signature != api.Digest(crypto.SHA256, ssum[:]) {
		t.Errorf("audit entry %+v", e.Artifact)
	}

	state := &api.HashState{Chain: st.Chain, Tail: st.Tail, Length: st.Length}
	id := func(n, v, a string) *api.PackageID { return &api.PackageID{Name: n, Version: v, Arch: a} }
	good := id("hello", "1:2.0-3", "all")
	tests := []struct {
		name string
		key  string
		opts api.SignOptions
		item api.SignItem
		code string
		want string
		who  string
	}{
		{"no package", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: state}, "bad_request", "needs the package's identity", ""},
		{"epoch apart", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: state, Package: &api.PackageID{Name: "hello", Epoch: "1", Version: "2.0-3", Arch: "all"}}, "bad_request", "no separate epoch or release", ""},
		{"bad name", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: state, Package: id("Hello", "1", "all")}, "bad_request", "package name", ""},
		{"bad version", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: state, Package: id("hello", "1.0 beta", "all")}, "bad_request", "version", ""},
		{"digest", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", Digest: api.Digest(crypto.SHA256, contentSum), Package: good}, "bad_request", "takes sha256_state", ""},
		{"size", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", Size: 1, SHA256State: state, Package: good}, "bad_request", "size 1 differs", ""},
		{"armor", "deb-ed", api.SignOptions{Armor: true}, api.SignItem{Name: "hello.deb", SHA256State: state, Package: good}, "bad_request", "takes no options", ""},
		{"bad state", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: &api.HashState{Chain: st.Chain, Length: 3}, Package: good}, "bad_request", "tail is 0 bytes", ""},
		{"pgp key", "pgp-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: state, Package: good}, "wrong_usage", "--usage deb", ""},
		{"rpm key", "rpm-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: state, Package: good}, "wrong_usage", "was created for rpm signatures", ""},
		{"format not granted", "deb-ed", api.SignOptions{}, api.SignItem{Name: "hello.deb", SHA256State: state, Package: good}, "forbidden", `format "deb"`, "releaser"},
		{"artifact not granted", "deb-ed", api.SignOptions{}, api.SignItem{Name: "other.deb", SHA256State: state, Package: good}, "forbidden", `artifact "other.deb"`, "packager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			who := tt.who
			if who == "" {
				who = "admin"
			}
			_, err := f.clients[who].Sign(ctx, &api.SignRequest{Key: tt.key, Format: "deb", Options: tt.opts, Items: []api.SignItem{tt.item}})
			wantAPIError(t, err, tt.code, tt.want)
		})
	}
}
