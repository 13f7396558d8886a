package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/internal/pgtest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// An outage takes the audit log's store down and brings it back.
type outage struct {
	start func(t *testing.T, f *fixture) // the store fails from now on
	end   func(t *testing.T, f *fixture) // the store works again
}

// outages are the real failures of the two stores: the SQLite database's
// file system full (the keystore lives on another), and the PostgreSQL
// server stopped.
func outages() []struct {
	name string
	open func(t *testing.T) (fixtureOptions, outage)
} {
	return []struct {
		name string
		open func(t *testing.T) (fixtureOptions, outage)
	}{
		{"sqlite-disk-full", func(t *testing.T) (fixtureOptions, outage) {
			disk := smallDisk(t)
			var release func()
			return fixtureOptions{auditDir: disk}, outage{
				start: func(t *testing.T, f *fixture) {
					release = fill(t, disk)
					// Until a write needs a new page, SQLite may still
					// find room (free pages, or its write-ahead log
					// reused from the start): make refusals with long
					// names, which are recorded (locked or not), until
					// several in a row are not.
					failed := 0
					for i := range 2000 {
						// Long names fill pages fast; once they fail,
						// short ones find what room is left, as a short
						// admin entry would.
						name := fmt.Sprintf("%s-%d.zip", strings.Repeat("x", 900), i)
						if failed > 0 {
							name = fmt.Sprintf("n-%d.zip", i)
						}
						_, e, _ := post(t, f, "builder", "/v1/sign", []byte(`{"key":"release","format":"raw","items":[{"name":"`+name+`","digest":"`+digest256(name)+`"}]}`))
						if !strings.Contains(e.Message, "could not record") {
							failed = min(failed, 1) // in a row, from the first
							continue
						}
						if failed++; failed == 5 {
							return
						}
						time.Sleep(time.Second) // let a checkpoint of the log try too
					}
					t.Fatal("the audit log still records with its disk full")
				},
				end: func(t *testing.T, f *fixture) { release(); waitWritable(t, f) },
			}
		}},
		{"postgres-stopped", func(t *testing.T) (fixtureOptions, outage) {
			pg := pgtest.Start(t)
			dsn := pg.NewDatabase(t)
			return fixtureOptions{auditStore: func(tb testing.TB) audit.Store {
					s, err := audit.OpenPostgres(context.Background(), dsn)
					if err != nil {
						tb.Fatal(err)
					}
					return s
				}}, outage{
					start: func(t *testing.T, f *fixture) {
						if err := pg.Stop(); err != nil {
							t.Fatal(err)
						}
					},
					end: func(t *testing.T, f *fixture) {
						if err := pg.Start(); err != nil {
							t.Fatal(err)
						}
						waitWritable(t, f)
					},
				}
		}},
	}
}

// waitWritable waits until the audit log can write again, failing after
// 30 s.
func waitWritable(t *testing.T, f *fixture) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.audit.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the audit log is not writable 30 s after its store came back: %v", f.audit.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postRaw posts body as principal and returns the status and body.
func postRaw(t *testing.T, f *fixture, principal, path string, body []byte) (int, []byte) {
	t.Helper()
	hc := f.httpClient(principal)
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(f.url.JoinPath(path).String(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// wantNothingDone checks the answer to an act made while the log was
// down: 503 audit_unavailable, which says nothing was done.
func wantNothingDone(t *testing.T, act string, status int, e api.Error) {
	t.Helper()
	if status != 503 || e.Code != "audit_unavailable" || !strings.Contains(e.Message, "nothing was done") {
		t.Errorf("%s with the audit log down: %d %s %q, want 503 audit_unavailable", act, status, e.Code, e.Message)
	}
}

// TestActsRecordedFirst makes each admin and custody act while the audit
// store fails, with the real stores: every act but lock is refused and
// leaves no trace (record first, act second); lock locks, answers 202
// with its record pending, and the record reaches the log once the store
// is back. The log then verifies and names no act that was not done.
func TestActsRecordedFirst(t *testing.T) {
	for _, o := range outages() {
		t.Run(o.name, func(t *testing.T) {
			opts, down := o.open(t)
			custodian := policy.Rules{Custodian: true}
			opts.principals = map[string]policy.Rules{"c1": custodian, "c2": custodian, "c3": custodian}
			opts.token = &fakeToken{}
			f := newFixtureWith(t, opts)
			ctx := context.Background()

			t.Run("hsm-enroll", func(t *testing.T) {
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/hsm/enroll", []byte(`{"token":"hsm","pin":"1234"}`))
				wantNothingDone(t, "hsm enroll", status, e)
				opts.token.mu.Lock()
				pins := opts.token.pins
				opts.token.mu.Unlock()
				if pins != 0 {
					t.Errorf("the token's PIN was changed while the log could not record the enrolment")
				}
				down.end(t, f)
				if status, e, _ := post(t, f, "admin", "/v1/hsm/enroll", []byte(`{"token":"hsm","pin":"1234"}`)); status != 200 {
					t.Errorf("enrolling once the log is back: %d %+v", status, e)
				}
			})
			t.Run("create", func(t *testing.T) {
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/keys", []byte(`{"name":"made-in-outage","type":"ed25519"}`))
				wantNothingDone(t, "key create", status, e)
				if _, err := f.keys.Key("made-in-outage"); !errors.Is(err, keystore.ErrNotFound) {
					t.Errorf("key created while the log could not record it: %v", err)
				}
				down.end(t, f)
				// The name is free: nothing was done.
				if status, e, _ := post(t, f, "admin", "/v1/keys", []byte(`{"name":"made-in-outage","type":"ed25519"}`)); status != 201 {
					t.Errorf("creating the key once the log is back: %d %+v", status, e)
				}
			})
			t.Run("rotate", func(t *testing.T) {
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/keys/release/rotate", []byte(`{}`))
				wantNothingDone(t, "rotate", status, e)
				if k, _ := f.keys.Key("release"); k.Version != 1 || len(k.Versions) != 1 {
					t.Errorf("key rotated while the log could not record it: active version %d of %d", k.Version, len(k.Versions))
				}
				down.end(t, f)
			})
			t.Run("revoke", func(t *testing.T) {
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/keys/release/revoke", []byte(`{"version":1,"reason":"superseded"}`))
				wantNothingDone(t, "revoke", status, e)
				if k, _ := f.keys.Key("release"); k.Versions[0].State != keystore.Active {
					t.Errorf("version revoked while the log could not record it: %s", k.Versions[0].State)
				}
				down.end(t, f)
			})
			t.Run("unlock", func(t *testing.T) {
				f.keys.Lock()
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/unlock", []byte(`{"passphrase":"test passphrase"}`))
				wantNothingDone(t, "unlock", status, e)
				if !f.keys.Locked() {
					t.Error("unlocked while the log could not record it")
				}
				down.end(t, f)
				if status, e, _ := post(t, f, "admin", "/v1/unlock", []byte(`{"passphrase":"test passphrase"}`)); status != 200 {
					t.Fatalf("unlock once the log is back: %d %+v", status, e)
				}
			})
			t.Run("lock", func(t *testing.T) {
				down.start(t, f)
				status, body := postRaw(t, f, "c2", "/v1/lock", []byte(`{}`))
				var lr struct {
					WasUnlocked   bool   `json:"was_unlocked"`
					RecordPending bool   `json:"record_pending"`
					Message       string `json:"message"`
				}
				json.Unmarshal(body, &lr)
				if status != 202 || !lr.WasUnlocked || !lr.RecordPending || !strings.Contains(lr.Message, "pending") {
					t.Errorf("lock with the audit log down: %d %s, want 202 with record_pending", status, body)
				}
				if !f.keys.Locked() {
					t.Fatal("the panic button did not lock while the log was down")
				}
				down.end(t, f)
				deadline := time.Now().Add(30 * time.Second)
				for {
					var found bool
					for _, e := range f.entries(t) {
						found = found || e.Action == audit.ActionLock && e.Principal.Name == "c2" && e.Details["recorded_late"] == "true"
					}
					if found {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the pending record of the lock was not written within 30 s of the log's return")
					}
					time.Sleep(50 * time.Millisecond)
				}
				if status, e, _ := post(t, f, "admin", "/v1/unlock", []byte(`{"passphrase":"test passphrase"}`)); status != 200 {
					t.Fatalf("unlock: %d %+v", status, e)
				}
			})

			var cs []custody.Custodian
			for i := 1; i <= 3; i++ {
				id, _ := age.GenerateX25519Identity()
				cs = append(cs, custody.Custodian{Name: fmt.Sprintf("custodian-%d", i), Recipient: id.Recipient().String()})
			}
			initReq, _ := json.Marshal(api.CustodyInitRequest{Passphrase: "test passphrase", Threshold: 2, Custodians: cs})
			t.Run("custody-init", func(t *testing.T) {
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/custody/init", initReq)
				wantNothingDone(t, "custody init", status, e)
				if m := f.keys.Status().Mode; m != keystore.ModePassphrase {
					t.Errorf("custody init took effect while the log could not record it: mode %s", m)
				}
				down.end(t, f)
			})
			// The log tells the truth: it verifies, and every act it
			// records as allowed was done.
			r, err := audit.Verify(ctx, f.audit.Store(), f.logKey)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %+v %v", r, err)
			}
			creates, rotations, revocations := 0, 0, 0
			for _, e := range f.entries(t) {
				if e.Decision != audit.Allowed {
					continue
				}
				switch {
				case e.Action == audit.ActionKeyCreate && e.Key.Name == "made-in-outage":
					creates++
				case e.Action == audit.ActionKeyRotate:
					rotations++
				case e.Action == audit.ActionKeyRevoke:
					revocations++
				}
			}
			if creates != 1 || rotations != 0 || revocations != 0 {
				t.Errorf("the log records %d creations of made-in-outage (want 1), %d rotations and %d revocations (want none)", creates, rotations, revocations)
			}
		})
	}
}

// TestCustodyActsRecordedFirst submits a share, proposes a rekey and
// resets custody progress while the audit store fails: each is refused,
// changes nothing and keeps the progress made so far; the unlock
// completes once the store is back.
func TestCustodyActsRecordedFirst(t *testing.T) {
	for _, o := range outages() {
		t.Run(o.name, func(t *testing.T) {
			opts, down := o.open(t)
			custodian := policy.Rules{Custodian: true}
			opts.principals = map[string]policy.Rules{"c1": custodian, "c2": custodian, "c3": custodian}
			f := newFixtureWith(t, opts)
			ctx := context.Background()
			var ids []*age.X25519Identity
			var cs []custody.Custodian
			for i := 1; i <= 3; i++ {
				id, _ := age.GenerateX25519Identity()
				ids = append(ids, id)
				cs = append(cs, custody.Custodian{Name: fmt.Sprintf("custodian-%d", i), Recipient: id.Recipient().String()})
			}
			resp, err := f.clients["admin"].CustodyInit(ctx, &api.CustodyInitRequest{Passphrase: "test passphrase", Threshold: 2, Custodians: cs})
			if err != nil {
				t.Fatal(err)
			}
			shares := make([]custody.Share, 3)
			for i, sf := range resp.Shares {
				pf, err := custody.ParseShareFile(sf.File)
				if err != nil {
					t.Fatal(err)
				}
				if shares[i], err = pf.Decrypt(ids[i]); err != nil {
					t.Fatal(err)
				}
			}
			shareReq := func(i int) []byte {
				b, _ := json.Marshal(api.UnlockRequest{Share: &shares[i]})
				return b
			}
			received := func() int {
				if p := f.keys.Status().Unlock; p != nil {
					return len(p.Received)
				}
				return 0
			}
			t.Run("share", func(t *testing.T) {
				f.keys.Lock()
				if status, e, _ := post(t, f, "c1", "/v1/unlock", shareReq(0)); status != 200 {
					t.Fatalf("first share: %d %+v", status, e)
				}
				down.start(t, f)
				status, e, _ := post(t, f, "c2", "/v1/unlock", shareReq(1))
				wantNothingDone(t, "the completing share", status, e)
				if !f.keys.Locked() || received() != 1 {
					t.Errorf("share taken while the log could not record it: locked %v, %d shares received", f.keys.Locked(), received())
				}
				down.end(t, f)
			})
			rekeyReq, _ := json.Marshal(api.RekeyRequest{Threshold: 2, Custodians: cs})
			t.Run("rekey-propose", func(t *testing.T) {
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/custody/rekey", rekeyReq)
				wantNothingDone(t, "rekey proposal", status, e)
				if st := f.keys.Status(); st.Rekey != nil || received() != 1 {
					t.Errorf("after a rekey proposal the log could not record: pending %+v, %d unlock shares received (want none and 1)", st.Rekey, received())
				}
				down.end(t, f)
			})
			t.Run("custody-reset", func(t *testing.T) {
				down.start(t, f)
				status, e, _ := post(t, f, "admin", "/v1/custody/reset", []byte(`{}`))
				wantNothingDone(t, "custody reset", status, e)
				if received() != 1 {
					t.Errorf("progress discarded by a reset the log could not record: %d shares received, want 1", received())
				}
				down.end(t, f)
			})
			if status, e, _ := post(t, f, "c2", "/v1/unlock", shareReq(1)); status != 200 {
				t.Fatalf("completing share once the log is back: %d %+v", status, e)
			}
			if f.keys.Locked() {
				t.Error("still locked after the completing share")
			}
			r, err := audit.Verify(ctx, f.audit.Store(), f.logKey)
			if err != nil || !r.OK() {
				t.Fatalf("verify: %+v %v", r, err)
			}
		})
	}
}
