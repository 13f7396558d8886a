package server_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/incident"
	"github.com/signet-dev/signet/server"
)

// fakeClock is a settable clock for the server and its keyring.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const week = 7 * 24 * time.Hour

// rotatingFixture is a fixture whose clock starts start before now and
// whose keys named "weekly*" rotate every week.
func rotatingFixture(t *testing.T, start time.Duration) (*fixture, *fakeClock) {
	c := &fakeClock{t: time.Now().Add(-start).UTC().Truncate(time.Second)}
	f := newFixtureWith(t, fixtureOptions{now: c.now, keyListKey: "key-list",
		rotateEvery: func(name string) time.Duration {
			if strings.HasPrefix(name, "weekly") {
				return week
			}
			return 0
		}})
	return f, c
}

// auditOf returns the entry of a receipt.
func auditOf(t *testing.T, f *fixture, r *audit.Receipt) *audit.Entry {
	t.Helper()
	e, _, err := audit.VerifyReceipt(r, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRotationThroughServer moves the server's clock through windows: a
// weekly key signs with version 1, then (after a scheduled rotation the
// log records) with version 2; signatures, responses and audit entries
// name the version; an admin rotates and revokes by hand, others may not;
// the signed key list tells a verifier all of it.
func TestRotationThroughServer(t *testing.T) {
	f, clk := rotatingFixture(t, 30*24*time.Hour)
	ctx := context.Background()
	admin := f.clients["admin"]
	if _, err := admin.CreateKey(ctx, &api.CreateKeyRequest{Name: "weekly-raw", Type: "ecdsa-p256"}); err != nil {
		t.Fatal(err)
	}
	paths := writeFiles(t, "w1.tar.gz", "w2.tar.gz", "w3.tar.gz")
	signOne := func(i int) client.FileSignature {
		t.Helper()
		sigs, err := admin.SignFiles(ctx, "weekly-raw", paths[i:i+1], api.SignOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sigs[0]
	}
	clk.advance(time.Hour)
	s1 := signOne(0)
	if e := auditOf(t, f, s1.Receipt); e.Key.Version != 1 || !e.Time.Equal(clk.now()) {
		t.Fatalf("window 1: entry names version %d at %v", e.Key.Version, e.Time)
	}
	clk.advance(week)
	s2 := signOne(1)
	e2 := auditOf(t, f, s2.Receipt)
	k, _ := f.keys.Key("weekly-raw")
	v2, _ := k.VersionOf(2)
	if e2.Key.Version != 2 || e2.Key.Fingerprint != v2.Fingerprint() || k.Version != 2 {
		t.Fatalf("window 2: entry names version %d (%s), key active %d", e2.Key.Version, e2.Key.Fingerprint, k.Version)
	}
	// The scheduled rotation is in the log, before the signature.
	var rotation *audit.Entry
	for _, e := range f.entries(t) {
		if e.Action == audit.ActionKeyRotate && e.Key != nil && e.Key.Name == "weekly-raw" {
			rotation = e
		}
	}
	if rotation == nil || rotation.Key.Version != 2 || rotation.Principal.Kind != "server" || rotation.Details["scheduled"] != "true" {
		t.Fatalf("the scheduled rotation is not recorded: %+v", rotation)
	}

	// Manual rotation and revocation are admin acts.
	clk.advance(time.Hour)
	for _, p := range []string{"builder", "releaser"} {
		if _, err := f.clients[p].RotateKey(ctx, "weekly-raw"); err == nil {
			t.Fatalf("%s rotated a key", p)
		}
		if _, err := f.clients[p].RevokeKey(ctx, "weekly-raw", 1, "compromised"); err == nil {
			t.Fatalf("%s revoked a key version", p)
		}
	}
	ak, err := admin.RotateKey(ctx, "weekly-raw")
	if err != nil {
		t.Fatal(err)
	}
	if ak.Version != 3 || len(ak.Versions) != 3 || ak.Versions[1].State != "retired" || ak.Versions[2].NotAfter.IsZero() {
		t.Fatalf("after a manual rotation: %+v", ak)
	}
	if ak, err = admin.RevokeKey(ctx, "weekly-raw", 1, "compromised"); err != nil {
		t.Fatal(err)
	}
	if v := ak.Versions[0]; v.State != "revoked" || v.Reason != "compromised" || v.Revoked.IsZero() {
		t.Fatalf("revoked version 1: %+v", v)
	}
	if _, err := admin.RevokeKey(ctx, "weekly-raw", 1, "compromised"); err == nil {
		t.Error("revoked twice")
	}
	if _, err := admin.RevokeKey(ctx, "weekly-raw", 2, "lost"); err == nil {
		t.Error("an unknown reason was accepted")
	}
	var revoke, denied *audit.Entry
	for _, e := range f.entries(t) {
		if e.Action == audit.ActionKeyRevoke && e.Decision == audit.Allowed {
			revoke = e
		}
		if e.Action == audit.ActionKeyRotate && e.Decision == audit.Denied {
			denied = e
		}
	}
	if revoke == nil || revoke.Key.Version != 1 || revoke.Details["reason"] != "compromised" || revoke.Principal.Name != "admin" {
		t.Fatalf("the revocation is not recorded: %+v", revoke)
	}
	if denied == nil || denied.Key.Name != "weekly-raw" {
		t.Fatalf("the refused rotation is not recorded: %+v", denied)
	}

	// The key list, checked against the root key alone.
	skl, err := f.clients["builder"].KeyList(ctx, "release")
	if err != nil {
		t.Fatal(err)
	}
	if skl.Root != "key-list" {
		t.Fatalf("key list signed by %q", skl.Root)
	}
	rootKey, _ := f.keys.Key("key-list")
	skl, err = admin.KeyList(ctx, "weekly-raw")
	if err != nil {
		t.Fatal(err)
	}
	l, err := client.VerifyKeyList(skl.KeyList, rootKey.Public, "weekly-raw")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Versions) != 3 || l.Versions[0].State != "revoked" || l.Versions[2].State != "active" || l.Serial != 3 {
		t.Fatalf("key list: serial %d, %+v", l.Serial, l.Versions)
	}
	if _, err := client.VerifyKeyList(skl.KeyList, rootKey.Public, "release"); err == nil {
		t.Error("a key list was accepted for another key")
	}
	v1, _ := k.VersionOf(1)
	if _, err := l.Check(v1.Public, time.Time{}); err == nil {
		t.Error("the key list lets a revoked version verify")
	}
	if _, err := l.Check(v2.Public, e2.Time); err != nil {
		t.Errorf("the key list refuses version 2 in its window: %v", err)
	}

	// Revoking the active version stops signing until a rotation.
	if _, err := admin.RevokeKey(ctx, "weekly-raw", 3, "superseded"); err != nil {
		t.Fatal(err)
	}
	_, err = admin.SignFiles(ctx, "weekly-raw", paths[2:], api.SignOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != "not_active" || !strings.Contains(ce.Message, "signet key rotate weekly-raw") {
		t.Fatalf("signing with no active version: %v", err)
	}
	if _, err := admin.RotateKey(ctx, "weekly-raw"); err != nil {
		t.Fatal(err)
	}
	if s := signOne(2); auditOf(t, f, s.Receipt).Key.Version != 4 {
		t.Fatal("version 4 does not sign")
	}
}

// TestOpenPGPRotationWithGnuPG is the proof with real GnuPG, through the
// server: a key's window-1 and window-2 subkeys sign files; the exported
// key (primary, subkeys, bindings) lets gpg --verify and gpgv accept
// both; after window 1 is revoked and the export imported again, gpg and
// gpgv refuse window-1 signatures (gpg listing the subkey as revoked)
// while window-2 signatures stay good.
func TestOpenPGPRotationWithGnuPG(t *testing.T) {
	need(t, "gpg", "gpgv")
	// Window 1 runs from 10 days ago for a week; window 2 from 2 days
	// ago, so that only window 1's subkey has expired in real time.
	f, clk := rotatingFixture(t, 10*24*time.Hour)
	ctx := context.Background()
	admin := f.clients["admin"]
	if _, err := admin.CreateKey(ctx, &api.CreateKeyRequest{Name: "weekly-pgp", Type: "pgp-ed25519", UID: "Rotating Release <release@example.org>"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "gnupg")
	os.Mkdir(home, 0o700)
	var files [2]string
	for i := range 2 {
		files[i] = filepath.Join(dir, []string{"w1.tar.gz", "w2.tar.gz"}[i])
		os.WriteFile(files[i], []byte("window "+string(rune('1'+i))+"\n"), 0o600)
		clk.advance([]time.Duration{time.Hour, week}[i])
		sigs, err := admin.SignFilesOpenPGP(ctx, "weekly-pgp", files[i:i+1], false)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(files[i]+".sig", sigs[0].Signature, 0o600)
		if e := auditOf(t, f, sigs[0].Receipt); e.Key.Version != i+1 {
			t.Fatalf("window %d: signed by version %d", i+1, e.Key.Version)
		}
	}
	export := func() string {
		t.Helper()
		k, err := admin.OpenPGPKey(ctx, "weekly-pgp")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "key.asc")
		os.WriteFile(p, openpgp.Armor(k.Certificate, "PGP PUBLIC KEY BLOCK"), 0o600)
		gpgKeyring := filepath.Join(dir, "key.gpg")
		os.WriteFile(gpgKeyring, k.Certificate, 0o600)
		mustRun(t, "", nil, "gpg", "--homedir", home, "--batch", "--import", p)
		return gpgKeyring
	}
	gpgVerify := func(i int) (string, error) {
		out, err := run(t, "", nil, "gpg", "--homedir", home, "--batch", "--status-fd", "1", "--verify", files[i]+".sig", files[i])
		return string(out), err
	}
	ring := export()
	k, _ := f.keys.Key("weekly-pgp")
	for i := range 2 {
		// Window 1's subkey has expired since: gpg says so (EXPKEYSIG)
		// and calls the signature good.
		out, err := gpgVerify(i)
		if err != nil || !strings.Contains(out, "Good signature") || !strings.Contains(out, []string{"EXPKEYSIG", "GOODSIG"}[i]) {
			t.Fatalf("window %d: gpg --verify: %v\n%s", i+1, err, out)
		}
		if err := gpgvOK(t, ring, files[i]+".sig", files[i]); err != nil {
			t.Fatalf("window %d: %v", i+1, err)
		}
	}
	// Clients trust the primary alone: it is the same key throughout.
	list := string(mustRun(t, "", nil, "gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys"))
	if strings.Count(list, "\npub:") != 1 || strings.Count(list, "\nsub:e:") != 1 || strings.Count(list, "\nsub:") != 2 {
		t.Fatalf("gpg lists:\n%s", list)
	}

	if _, err := admin.RevokeKey(ctx, "weekly-pgp", 1, "compromised"); err != nil {
		t.Fatal(err)
	}
	ring = export()
	v1, _ := k.VersionOf(1)
	sub1, _ := openpgp.NewSubkey(v1.Public, v1.Created)
	out, err := gpgVerify(0)
	if err == nil || strings.Contains(out, "GOODSIG") || !strings.Contains(out, "ERRSIG "+sub1.FingerprintHex()[24:]) {
		t.Fatalf("gpg --verify accepts a window-1 signature after revocation: %v\n%s", err, out)
	}
	list = string(mustRun(t, "", nil, "gpg", "--homedir", home, "--batch", "--with-colons", "--list-keys", sub1.FingerprintHex()+"!"))
	if !strings.Contains(list, "\nsub:r:") {
		t.Fatalf("gpg does not list the window-1 subkey as revoked:\n%s", list)
	}
	if err := gpgvOK(t, ring, files[0]+".sig", files[0]); err == nil {
		t.Fatal("gpgv with the updated keyring accepts a window-1 signature")
	}
	if out, err := gpgVerify(1); err != nil || !strings.Contains(out, "GOODSIG") {
		t.Fatalf("window 2 after revoking window 1: %v\n%s", err, out)
	}
	if err := gpgvOK(t, ring, files[1]+".sig", files[1]); err != nil {
		t.Fatalf("window 2 after revoking window 1: %v", err)
	}
}

// TestTransitionThroughServer has an admin replace a raw key and an
// OpenPGP key by new keys: each statement verifies against the old key
// (the OpenPGP one against its exported certificate), the raw one only
// with its receipt, and nobody else may ask for one.
func TestTransitionThroughServer(t *testing.T) {
	f, _ := rotatingFixture(t, 0)
	ctx := context.Background()
	admin := f.clients["admin"]
	for _, r := range []api.CreateKeyRequest{{Name: "release-2", Type: "ed25519"}, {Name: "pgp-old", Type: "pgp-ed25519", UID: "Old <old@example.org>"},
		{Name: "pgp-new", Type: "pgp-ed25519", UID: "New <new@example.org>"}} {
		if _, err := admin.CreateKey(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.clients["releaser"].Transition(ctx, "release", "release-2", ""); err == nil {
		t.Fatal("a non-admin signed a transition")
	}
	resp, err := admin.Transition(ctx, "release", "release-2", "yearly replacement")
	if err != nil {
		t.Fatal(err)
	}
	old, _ := f.keys.Key("release")
	if _, err := client.VerifyTransition(resp.Statement, nil, old.Public, ""); err == nil {
		t.Error("a transition away from a raw key verified without its receipt")
	}
	st, err := client.VerifyTransition(resp.Statement, resp.Receipt, old.Public, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	nk, _ := f.keys.Key("release-2")
	if st.New.Name != "release-2" || !st.New.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(nk.Public) || st.Reason != "yearly replacement" {
		t.Fatalf("statement: %+v", st)
	}
	if _, err := client.VerifyTransition(resp.Statement, resp.Receipt, nk.Public, f.logKey); err == nil {
		t.Error("the statement verified against the new key as the trusted one")
	}
	// A receipt of another entry does not vouch for the statement.
	other, err := admin.SignFiles(ctx, "release", writeFiles(t, "x.tar.gz"), api.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.VerifyTransition(resp.Statement, other[0].Receipt, old.Public, f.logKey); err == nil {
		t.Error("a signature's receipt was accepted for the transition")
	}

	presp, err := admin.Transition(ctx, "pgp-old", "pgp-new", "")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := admin.OpenPGPKey(ctx, "pgp-old")
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := client.ParseTrustedKey(openpgp.Armor(cert.Certificate, "PGP PUBLIC KEY BLOCK"))
	if err != nil {
		t.Fatal(err)
	}
	pst, err := client.VerifyTransition(presp.Statement, nil, trusted, "")
	if err != nil {
		t.Fatal(err)
	}
	if newCert, _ := admin.OpenPGPKey(ctx, "pgp-new"); pst.New.OpenPGPFingerprint != newCert.Fingerprint || pst.Old.OpenPGPFingerprint != cert.Fingerprint {
		t.Fatalf("OpenPGP transition names %s → %s", pst.Old.OpenPGPFingerprint, pst.New.OpenPGPFingerprint)
	}
	var n int
	for _, e := range f.entries(t) {
		if e.Action == audit.ActionKeyTransition {
			n++
		}
	}
	if n != 3 { // two signed, one refused
		t.Fatalf("%d transition entries, want 3", n)
	}
}

// TestKeyListNeedsItsRoot checks that a server without a key-list key
// says so and signs nothing.
func TestKeyListNeedsItsRoot(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{})
	_, err := f.clients["admin"].KeyList(context.Background(), "release")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 501 || !strings.Contains(ce.Message, "rotation.key_list_key") {
		t.Fatalf("key list without a root: %v", err)
	}
}

// TestIncidentReportThroughAPI builds the same report through the search
// API (pages answered against one size, each match proven) and from the
// store, while the log grows between pages, and checks the API's size=.
func TestIncidentReportThroughAPI(t *testing.T) {
	f := newFixture(t, server.Limits{})
	ctx := context.Background()
	builder, admin := f.clients["builder"], f.clients["admin"]
	for i := range 30 {
		if _, err := builder.SignFiles(ctx, "release", writeFiles(t, fmt.Sprintf("a%d.tar.gz", i)), api.SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := builder.SignFiles(ctx, "release", writeFiles(t, "evil.exe"), api.SignOptions{}); err == nil {
		t.Fatal("builder signed evil.exe")
	}
	tok, claims, err := issue(t, f, "ci", api.TokenRequest{Subject: "build-9", TTL: "1h", Keys: []string{"release"}, Formats: []string{"raw"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokenClient(t, tok).SignFiles(ctx, "release", writeFiles(t, "t.tar.gz"), api.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	// Small pages, and a signature between every two, so that the API
	// answers later pages while the log has grown.
	src := &growingAPI{AuditSource: client.AuditSource{C: admin}, sign: func() {
		if _, err := builder.SignFiles(ctx, "release", writeFiles(t, "late.tar.gz"), api.SignOptions{}); err != nil {
			t.Error(err)
		}
	}}
	viaAPI, err := incident.Build(ctx, src, incident.Query{Key: "release"}, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	if viaAPI.Signatures.N != 31 || viaAPI.Refused.N != 1 || len(viaAPI.Checkpoints) != 1 {
		t.Fatalf("report: %d signatures, %d refused, %d checkpoints", viaAPI.Signatures.N, viaAPI.Refused.N, len(viaAPI.Checkpoints))
	}
	var tokenGroup *incident.Group
	for i, g := range viaAPI.Groups {
		if g.Kind == "token" {
			tokenGroup = &viaAPI.Groups[i]
		}
	}
	if tokenGroup == nil || tokenGroup.Token != claims.ID || tokenGroup.Subject != "build-9" || tokenGroup.Principal != "ci" || tokenGroup.Signatures.N != 1 {
		t.Fatalf("token group: %+v", tokenGroup)
	}
	// The same report from the store, bounded at the same size.
	fromStore, err := incident.Build(ctx, &incident.StoreSource{Store: &sizedStore{Store: f.audit.Store(), head: viaAPI.Checkpoints[0], size: viaAPI.Size}}, incident.Query{Key: "release"}, f.logKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromStore.Entries) != len(viaAPI.Entries) {
		t.Fatalf("store: %d entries, API: %d", len(fromStore.Entries), len(viaAPI.Entries))
	}
	for i := range fromStore.Entries {
		if fromStore.Entries[i].Index != viaAPI.Entries[i].Index {
			t.Fatalf("entry %d: store %d, API %d", i, fromStore.Entries[i].Index, viaAPI.Entries[i].Index)
		}
	}
	for _, q := range []string{"size=0", "size=999999"} {
		if _, err := admin.Search(ctx, mustQuery(q+"&key=release&proofs=1")); err == nil {
			t.Errorf("search with %s succeeded", q)
		}
	}
	if _, err := builder.Search(ctx, mustQuery("key=release&proofs=1")); err == nil {
		t.Error("a principal without an audit grant searched the log")
	}
}

// growingAPI signs something before every page after the first, and
// asks for pages of 7.
type growingAPI struct {
	client.AuditSource
	sign  func()
	pages int
}

func (g *growingAPI) SearchProven(ctx context.Context, q audit.Query) (*incident.Page, error) {
	if g.pages > 0 {
		g.sign()
	}
	g.pages++
	q.Limit = 7
	return g.AuditSource.SearchProven(ctx, q)
}

// sizedStore is a store whose head is an earlier checkpoint: a report
// from it covers the same entries as one built through the API.
type sizedStore struct {
	audit.Store
	head string
	size int64
}

func (s *sizedStore) Head(context.Context) (string, int64, error) { return s.head, s.size, nil }

func mustQuery(q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		panic(err)
	}
	return v
}
