package server_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// custodyFixture is a server over a keyring with a settable clock, an
// admin, five custodians c1…c5 and a builder allowed to sign with
// "release" (in the file) and "hsm-release" (in a fake token).
type custodyFixture struct {
	keys    *keystore.Keyring
	clients map[string]*client.Client
	url     *url.URL
	tls     map[string]*tls.Config
	audit   *recordingLog
	token   *fakeToken

	mu  sync.Mutex
	now time.Time
}

func (f *custodyFixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *custodyFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

const custodyPass = "custody test passphrase"

func newCustodyFixture(t *testing.T) *custodyFixture {
	t.Helper()
	dir := t.TempDir()
	if err := keystore.Init(dir, []byte(custodyPass)); err != nil {
		t.Fatal(err)
	}
	d, err := keystore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := &custodyFixture{clients: map[string]*client.Client{}, tls: map[string]*tls.Config{}, token: &fakeToken{}, now: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	if err := d.AddToken("hsm", []string{"hsm-*"}, f.token); err != nil {
		t.Fatal(err)
	}
	f.keys = keystore.NewKeyring(d, keystore.Timeouts{IdleTTL: time.Hour, MaxTTL: 2 * time.Hour, PartialWindow: 10 * time.Minute})
	f.keys.SetClock(f.clock)
	ca, err := devpki.NewCA("custody CA")
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]policy.Rules{
		"admin":   {Admin: true},
		"builder": {Grants: []policy.Grant{{Keys: []string{"release", "hsm-release"}, Formats: []string{"raw"}, Artifacts: []string{"*"}}}},
	}
	for i := 1; i <= 5; i++ {
		rules[fmt.Sprintf("c%d", i)] = policy.Rules{Custodian: true}
	}
	pol, err := policy.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	var certRules []authn.CertRule
	certs := map[string]tls.Certificate{}
	for name := range rules {
		c, err := ca.IssueClient(name)
		if err != nil {
			t.Fatal(err)
		}
		certs[name] = c
		certRules = append(certRules, authn.CertRule{Principal: name, SubjectCN: name, CA: ca.Cert})
	}
	cr, err := authn.NewCerts(certRules)
	if err != nil {
		t.Fatal(err)
	}
	store, err := audit.OpenSQLite(filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	var srv *server.Server
	log, err := audit.Open(context.Background(), audit.Options{Store: store, Origin: "test/audit",
		Key: func() (crypto.Signer, error) { return srv.AuditKey() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close(); store.Close() })
	f.audit = &recordingLog{Log: log}
	srv = server.New(server.Options{Audit: f.audit, AuditKey: "audit-log", Keys: f.keys, Policy: pol, Authn: &authn.Authenticator{Certs: cr}, ServerID: "test"})
	ts := httptest.NewUnstartedServer(srv.Handler())
	sc, err := ca.IssueServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	ts.TLS = server.TLSConfig(sc, pool, false)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	f.url, _ = url.Parse(ts.URL)
	for name, c := range certs {
		f.tls[name] = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{c}}
		f.clients[name] = client.NewWithTLS(f.url, f.tls[name])
	}
	return f
}

// recordingLog is the audit log, keeping a copy of every entry for the
// test to inspect.
type recordingLog struct {
	*audit.Log
	mu      sync.Mutex
	entries []audit.Entry
}

func (l *recordingLog) Append(ctx context.Context, entries ...audit.Entry) ([]audit.Receipt, error) {
	l.mu.Lock()
	l.entries = append(l.entries, entries...)
	l.mu.Unlock()
	return l.Log.Append(ctx, entries...)
}

// fakeToken is a keystore.Token holding software Ed25519 keys, whose
// signing can be made to fail like a removed device.
type fakeToken struct {
	mu     sync.Mutex
	in     bool
	fail   bool
	keys   map[string]ed25519.PrivateKey
	logins int
	pins   int // SetPIN calls: enrolments
}

func (t *fakeToken) Login(pin string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.in = true
	t.logins++
	return nil
}
func (t *fakeToken) Logout() error            { t.mu.Lock(); t.in = false; t.mu.Unlock(); return nil }
func (t *fakeToken) SetPIN(_, _ string) error { t.mu.Lock(); t.pins++; t.mu.Unlock(); return nil }
func (t *fakeToken) String() string           { return "fake token" }
func (t *fakeToken) Generate(typ keystore.Type, label string) ([]byte, crypto.PublicKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, priv, _ := ed25519.GenerateKey(nil)
	if t.keys == nil {
		t.keys = map[string]ed25519.PrivateKey{}
	}
	t.keys[label] = priv
	return []byte(label), priv.Public(), nil
}
func (t *fakeToken) Signer(id []byte, pub crypto.PublicKey) (crypto.Signer, error) {
	return &fakeSigner{t: t, k: t.keys[string(id)]}, nil
}

type fakeSigner struct {
	t *fakeToken
	k ed25519.PrivateKey
}

func (s *fakeSigner) Public() crypto.PublicKey { return s.k.Public() }
func (s *fakeSigner) Sign(r io.Reader, m []byte, o crypto.SignerOpts) ([]byte, error) {
	s.t.mu.Lock()
	fail, in := s.t.fail, s.t.in
	s.t.mu.Unlock()
	if fail {
		return nil, errors.New("pkcs11: 0x32: CKR_DEVICE_REMOVED")
	}
	if !in {
		return nil, errors.New("pkcs11: 0x101: CKR_USER_NOT_LOGGED_IN")
	}
	return s.k.Sign(r, m, o)
}

func (f *custodyFixture) sign(t *testing.T, key string) error {
	t.Helper()
	msg := []byte("artifact")
	item := api.SignItem{Name: "a.tar.gz", Data: msg}
	if key == "release" {
		d := digest256(string(msg))
		item = api.SignItem{Name: "a.tar.gz", Digest: d}
	}
	_, err := f.clients["builder"].Sign(context.Background(), &api.SignRequest{Key: key, Format: "raw", Items: []api.SignItem{item}})
	return err
}

func wantCustodyErr(t *testing.T, err error, status int, code, msg string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != status || ce.Code != code || !strings.Contains(ce.Message, msg) {
		t.Fatalf("got %v; want HTTP %d %s containing %q", err, status, code, msg)
	}
}

func (f *custodyFixture) ready(t *testing.T) bool {
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: f.tls["builder"]}}).Get(f.url.JoinPath("/readyz").String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// entries returns the audit entries of action since index from.
func (f *custodyFixture) entries(from int, action audit.Action) []audit.Entry {
	f.audit.mu.Lock()
	defer f.audit.mu.Unlock()
	var out []audit.Entry
	for _, e := range f.audit.entries[from:] {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func (f *custodyFixture) mark() int {
	f.audit.mu.Lock()
	defer f.audit.mu.Unlock()
	return len(f.audit.entries)
}

// TestCustodyEndpoints takes a server through a passphrase unlock,
// custody init (3 of 5), the panic button, a 3-of-5 unlock with a
// tampered share refused and named, lease expiry, HSM failures as 503s
// and a rekey that voids the old shares — checking the audit log, which
// must never hold a share.
func TestCustodyEndpoints(t *testing.T) {
	f := newCustodyFixture(t)
	ctx := context.Background()
	admin, builder := f.clients["admin"], f.clients["builder"]

	// Grants: custody is not signing, signing is not custody.
	wantCustodyErr(t, builder.Unlock(ctx, custodyPass), 403, "forbidden", "neither a custodian nor an administrator")
	_, err := builder.Lock(ctx)
	wantCustodyErr(t, err, 403, "forbidden", "neither a custodian")
	_, err = builder.Status(ctx)
	wantCustodyErr(t, err, 403, "forbidden", "neither a custodian")
	_, err = f.clients["c1"].CustodyInit(ctx, &api.CustodyInitRequest{})
	wantCustodyErr(t, err, 403, "forbidden", "is not an administrator")

	// Locked at start.
	_, err = admin.CreateKey(ctx, &api.CreateKeyRequest{Name: "release", Type: "ecdsa-p256"})
	wantCustodyErr(t, err, 503, "locked", "keystore locked: ask a custodian to run 'signet unlock'")
	if f.ready(t) {
		t.Fatal("/readyz true while locked")
	}
	if err := f.clients["c1"].Unlock(ctx, custodyPass); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Create(keystore.Spec{Name: "audit-log", Type: keystore.Ed25519, Usage: "audit"}); err != nil {
		t.Fatal(err)
	}
	if !f.ready(t) {
		t.Fatal("/readyz false while unlocked")
	}
	for _, k := range []api.CreateKeyRequest{{Name: "release", Type: "ecdsa-p256"}, {Name: "hsm-release", Type: "ed25519"}} {
		if _, err := admin.CreateKey(ctx, &k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"release", "hsm-release"} {
		if err := f.sign(t, k); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}

	// Custody init: 3 of 5, each share encrypted to its custodian.
	var ids []*age.X25519Identity
	var cs []custody.Custodian
	for i := 1; i <= 5; i++ {
		id, _ := age.GenerateX25519Identity()
		ids = append(ids, id)
		cs = append(cs, custody.Custodian{Name: fmt.Sprintf("custodian-%d", i), Recipient: id.Recipient().String()})
	}
	_, err = admin.CustodyInit(ctx, &api.CustodyInitRequest{Passphrase: "wrong", Threshold: 3, Custodians: cs})
	wantCustodyErr(t, err, 403, "bad_passphrase", "wrong passphrase")
	_, err = admin.CustodyInit(ctx, &api.CustodyInitRequest{Passphrase: custodyPass, Threshold: 6, Custodians: cs})
	wantCustodyErr(t, err, 400, "bad_request", "threshold 6 with 5 custodians")
	resp, err := admin.CustodyInit(ctx, &api.CustodyInitRequest{Passphrase: custodyPass, Threshold: 3, Custodians: cs})
	if err != nil {
		t.Fatal(err)
	}
	shares := make([]custody.Share, 5)
	for i, sf := range resp.Shares {
		pf, err := custody.ParseShareFile(sf.File)
		if err != nil {
			t.Fatal(err)
		}
		if shares[i], err = pf.Decrypt(ids[i]); err != nil {
			t.Fatal(err)
		}
	}

	// The panic button, by a custodian.
	m := f.mark()
	lr, err := f.clients["c2"].Lock(ctx)
	if err != nil || !lr.WasUnlocked {
		t.Fatalf("lock: %+v %v", lr, err)
	}
	if e := f.entries(m, audit.ActionLock); len(e) != 1 || e[0].Principal.Name != "c2" || e[0].Decision != audit.Allowed {
		t.Fatalf("lock audit entries %+v", e)
	}
	wantCustodyErr(t, f.sign(t, "release"), 503, "locked", "keystore locked: ask a custodian to run 'signet unlock'")
	if f.ready(t) {
		t.Fatal("/readyz true after lock")
	}
	wantCustodyErr(t, f.clients["c1"].Unlock(ctx, custodyPass), 409, "wrong_method", "custodians")

	// Two shares are not enough; a tampered share is refused on entry.
	m = f.mark()
	for i := range 2 {
		r, err := f.clients[fmt.Sprintf("c%d", i+1)].UnlockShare(ctx, shares[i])
		if err != nil || r.Unlocked || r.Share.Received != i+1 {
			t.Fatalf("share %d: %+v %v", i+1, r, err)
		}
	}
	wantCustodyErr(t, f.sign(t, "release"), 503, "locked", "signet unlock")
	bad := shares[2]
	bad.Value = append([]byte(nil), bad.Value...)
	bad.Value[3] ^= 0x10
	_, err = f.clients["c3"].UnlockShare(ctx, bad)
	wantCustodyErr(t, err, 403, "bad_share", `share 3 (custodian "custodian-3")`)
	wantCustodyErr(t, err, 403, "bad_share", `submitted by "c3"`)
	_, err = f.clients["c1"].UnlockShare(ctx, shares[0])
	wantCustodyErr(t, err, 409, "duplicate_share", "already received")
	st, err := f.clients["c4"].Status(ctx)
	if err != nil || !st.Locked || st.Unlock == nil || len(st.Unlock.Received) != 2 || st.Unlock.Received[1].By != "c2" {
		t.Fatalf("status with 2 of 3: %+v %v", st, err)
	}
	r, err := f.clients["c3"].UnlockShare(ctx, shares[2])
	if err != nil || !r.Unlocked {
		t.Fatalf("third share: %+v %v", r, err)
	}
	if err := f.sign(t, "release"); err != nil {
		t.Fatal(err)
	}
	unlocks := f.entries(m, audit.ActionUnlock)
	if len(unlocks) != 5 {
		t.Fatalf("%d unlock entries, want 5 (2 accepted, tampered, duplicate, completing)", len(unlocks))
	}
	if e := unlocks[2]; e.Decision != audit.Denied || e.Principal.Name != "c3" || e.Details["share_index"] != "3" || e.Details["custodian"] != "custodian-3" {
		t.Fatalf("tampered share entry %+v", e)
	}
	if e := unlocks[4]; e.Details["unlocked"] != "true" || e.Details["received"] != "3" {
		t.Fatalf("completing entry %+v", e)
	}

	// HSM failures are clear 503s naming the token; they recover.
	f.token.mu.Lock()
	f.token.fail = true
	f.token.mu.Unlock()
	wantCustodyErr(t, f.sign(t, "hsm-release"), 503, "hsm_unavailable", "CKR_DEVICE_REMOVED")
	f.token.mu.Lock()
	f.token.fail = false
	f.token.mu.Unlock()
	if err := f.sign(t, "hsm-release"); err != nil {
		t.Fatal(err)
	}

	// The idle TTL ends the lease; the server records it by itself.
	m = f.mark()
	f.advance(time.Hour)
	wantCustodyErr(t, f.sign(t, "release"), 503, "locked", "signet unlock")
	if e := f.entries(m, audit.ActionLock); len(e) != 1 || e[0].Principal.Kind != "server" || !strings.Contains(e[0].Reason, "idle") {
		t.Fatalf("expiry entries %+v", e)
	}
	f.token.mu.Lock()
	in := f.token.in
	f.token.mu.Unlock()
	if in {
		t.Fatal("the token is still logged in after the lease ended")
	}

	// Rekey to 2 of 2, approved by three current custodians.
	var nids []*age.X25519Identity
	var ncs []custody.Custodian
	for i := 1; i <= 2; i++ {
		id, _ := age.GenerateX25519Identity()
		nids = append(nids, id)
		ncs = append(ncs, custody.Custodian{Name: fmt.Sprintf("new-%d", i), Recipient: id.Recipient().String()})
	}
	_, err = f.clients["c1"].ProposeRekey(ctx, &api.RekeyRequest{Threshold: 2, Custodians: ncs})
	wantCustodyErr(t, err, 403, "forbidden", "not an administrator")
	p, err := admin.ProposeRekey(ctx, &api.RekeyRequest{Threshold: 2, Custodians: ncs})
	if err != nil {
		t.Fatal(err)
	}
	var newShares *api.CustodyShares
	for i, who := range []string{"c1", "c4", "c5"} {
		idx := []int{0, 3, 4}[i]
		r, err := f.clients[who].ApproveRekey(ctx, &api.RekeyApproval{Proposal: p.ID, Share: shares[idx]})
		if err != nil || (r.New != nil) != (i == 2) {
			t.Fatalf("approval %d: %+v %v", i+1, r, err)
		}
		newShares = r.New
	}
	_, err = f.clients["c2"].UnlockShare(ctx, shares[1])
	wantCustodyErr(t, err, 403, "bad_share", "replaced by a rekey")
	for i, who := range []string{"c2", "c3"} {
		pf, _ := custody.ParseShareFile(newShares.Shares[i].File)
		sh, err := pf.Decrypt(nids[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.clients[who].UnlockShare(ctx, sh); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.sign(t, "release"); err != nil {
		t.Fatalf("after unlocking with the new shares: %v", err)
	}

	// No share value ever reaches the audit log.
	f.audit.mu.Lock()
	all, _ := json.Marshal(f.audit.entries)
	f.audit.mu.Unlock()
	for i, sh := range shares {
		if strings.Contains(string(all), base64.StdEncoding.EncodeToString(sh.Value)) {
			t.Fatalf("share %d is in the audit log", i+1)
		}
	}
	if !strings.Contains(string(all), `"event":"rekey"`) || !strings.Contains(string(all), `"event":"init"`) {
		t.Fatal("custody init or rekey not audited")
	}
}
