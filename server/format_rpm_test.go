package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/format/rpm"
	"github.com/signet-dev/signet/internal/pkgtest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// newPackagesFixture is the fixture with OpenPGP keys for packages —
// "rpm-ed" (usage rpm), "deb-ed" (usage deb), "pgp-ed" (usage pgp), all
// pgp-ed25519 — and principal "packager", who may sign with them in
// formats rpm and deb, artifacts hello* only.
func newPackagesFixture(t *testing.T, limits server.Limits) *fixture {
	t.Helper()
	f := newFixtureWith(t, fixtureOptions{limits: limits, principals: map[string]policy.Rules{
		"packager": {Grants: []policy.Grant{{Keys: []string{"rpm-ed", "deb-ed", "pgp-ed"}, Formats: []string{"rpm", "deb"}, Artifacts: []string{"hello*"}}}},
	}})
	for name, usage := range map[string]string{"rpm-ed": "rpm", "deb-ed": "deb", "pgp-ed": "pgp"} {
		if _, err := f.keys.Create(keystore.Spec{Name: name, Type: keystore.PGPEd25519, Usage: usage, UID: "Signet Packages <packages@example.org>", PrimarySigns: usage == "deb"}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestSignRPM(t *testing.T) {
	f := newPackagesFixture(t, server.Limits{MaxMessageBytes: 64 << 10})
	ctx := context.Background()
	dir := t.TempDir()
	hello := pkgtest.BuildRPM(t, dir, pkgtest.RPM{Name: "hello", Epoch: "1", Version: "2.0", Release: "3", Files: 5})
	other := pkgtest.BuildRPM(t, dir, pkgtest.RPM{Name: "other", Version: "1.0", Release: "1"})
	unsigned, _ := os.ReadFile(hello)
	p, err := rpm.Read(bytes.NewReader(unsigned), rpm.MaxData)
	if err != nil {
		t.Fatal(err)
	}
	header := p.Header.Bytes()

	cert, err := f.clients["packager"].OpenPGPKey(ctx, "rpm-ed")
	if err != nil {
		t.Fatal(err)
	}
	db := pkgtest.RPMKeyring(t, dir, openpgp.Armor(cert.Certificate, "PGP PUBLIC KEY BLOCK"))

	t.Run("client", func(t *testing.T) {
		path := filepath.Join(dir, "hello-signed.rpm")
		os.WriteFile(path, unsigned, 0o640)
		sigs, err := f.clients["packager"].SignRPMs(ctx, "rpm-ed", []string{path})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := pkgtest.CheckRPM(t, db, path); err != nil {
			t.Fatalf("rpmkeys: %v\n%s", err, out)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
			t.Errorf("the signed package has mode %v, want the original 0640", fi.Mode())
		}
		e := f.lastEntry(t)
		hsum := sha256.Sum256(header)
		ssum := sha256.Sum256(sigs[0].Signature)
		want := map[string]string{"nevra": "hello-1:2.0-3.noarch", "name": "hello", "epoch": "1", "version": "2.0", "release": "3", "arch": "noarch",
			"source": "false", "signature_tag": "DSAHEADER", "openpgp_fingerprint": cert.Fingerprint}
		for k, v := range want {
			if e.Details[k] != v {
				t.Errorf("audit detail %s = %q, want %q", k, e.Details[k], v)
			}
		}
		if e.Format != "rpm" || e.Artifact.Digests[0] != api.Digest(crypto.SHA256, hsum[:]) || e.Artifact.Signature != api.Digest(crypto.SHA256, ssum[:]) || e.Details["payload_digest"] == "" {
			t.Errorf("audit entry %+v %v", e.Artifact, e.Details)
		}
	})

	t.Run("canonical name granted too", func(t *testing.T) {
		// packager may sign hello*; a package "other" named hello-… is refused
		// by the name in its header, and the file is left as it was.
		path := filepath.Join(dir, "hello-in-disguise.rpm")
		b, _ := os.ReadFile(other)
		os.WriteFile(path, b, 0o644)
		_, err := f.clients["packager"].SignRPMs(ctx, "rpm-ed", []string{path})
		wantAPIError(t, err, "forbidden", `"hello-in-disguise.rpm" holds package other-1.0-1.noarch, whose file name must be granted too: permission denied: principal "packager" may not sign artifact "other-1.0-1.noarch.rpm"`)
		if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
			t.Error("the refused package changed")
		}
	})

	t.Run("grants and usages", func(t *testing.T) {
		item := api.SignItem{Name: "hello.rpm", Data: header, Package: &api.PackageID{Name: "hello", Epoch: "1", Version: "2.0", Release: "3", Arch: "noarch"}}
		_, err := f.clients["releaser"].Sign(ctx, &api.SignRequest{Key: "rpm-ed", Format: "rpm", Items: []api.SignItem{item}})
		wantAPIError(t, err, "forbidden", `format "rpm"`)
		_, err = f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "pgp-ed", Format: "rpm", Items: []api.SignItem{item}})
		wantAPIError(t, err, "wrong_usage", "needs a key created with --usage rpm")
		_, err = f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "deb-ed", Format: "rpm", Items: []api.SignItem{item}})
		wantAPIError(t, err, "wrong_usage", "was created for deb signatures")
		st := &api.HashState{Chain: make([]byte, 32), Length: 0}
		_, err = f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "rpm-ed", Format: "pgp", Items: []api.SignItem{{Name: "x", SHA256State: st}}})
		wantAPIError(t, err, "wrong_usage", "was created for rpm signatures")
	})

	nevra := func(n, e, v, r, a string) *api.PackageID {
		return &api.PackageID{Name: n, Epoch: e, Version: v, Release: r, Arch: a}
	}
	good := nevra("hello", "1", "2.0", "3", "noarch")
	tests := []struct {
		name  string
		opts  api.SignOptions
		items []api.SignItem
		code  string
		want  string
	}{
		{"not a header", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Data: []byte("Origin: x\n"), Package: good}}, "bad_request", "not an RPM v4 package"},
		{"signature header", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Data: p.Signature.Bytes(), Package: good}}, "bad_request", "region tag 63"},
		{"whole package", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Data: unsigned, Package: good}}, "bad_request", "not an RPM v4 package"},
		{"other epoch", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Data: header, Package: nevra("hello", "", "2.0", "3", "noarch")}}, "bad_request", "the header is for package hello-1:2.0-3.noarch, but the request names hello-2.0-3.noarch"},
		{"other name", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Data: header, Package: nevra("evil", "1", "2.0", "3", "noarch")}}, "bad_request", "request names evil-1:2.0-3.noarch"},
		{"no package", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Data: header}}, "bad_request", "needs the package's NEVRA"},
		{"digest", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Digest: api.Digest(crypto.SHA256, make([]byte, 32)), Package: good}}, "bad_request", "takes the package's main header"},
		{"armor", api.SignOptions{Armor: true}, []api.SignItem{{Name: "hello.rpm", Data: header, Package: good}}, "bad_request", "takes no options"},
		{"too large", api.SignOptions{}, []api.SignItem{{Name: "hello.rpm", Data: make([]byte, 64<<10+1), Package: good}}, "too_large", "limits.max_message_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "rpm-ed", Format: "rpm", Options: tt.opts, Items: tt.items})
			wantAPIError(t, err, tt.code, tt.want)
		})
	}
	_, err = f.clients["admin"].Sign(ctx, &api.SignRequest{Key: "release", Format: "raw", Items: []api.SignItem{{Name: "a", Digest: api.Digest(crypto.SHA256, make([]byte, 32)), Package: good}}})
	wantAPIError(t, err, "bad_request", "package identity is for formats rpm and deb")
}
