package server_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/server"
)

// countingKeys counts the passphrase unlocks running at once.
type countingKeys struct {
	server.Keyring
	now, peak atomic.Int32
}

func (k *countingKeys) Unlock(by string, passphrase []byte, record func() error) error {
	n := k.now.Add(1)
	for {
		p := k.peak.Load()
		if n <= p || k.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer k.now.Add(-1)
	return k.Keyring.Unlock(by, passphrase, record)
}

// TestUnlockDerivationsBounded sends 12 wrong passphrases at once: at most
// two Argon2id derivations run at a time, and every request is answered
// (wrong passphrase, or busy with Retry-After).
func TestUnlockDerivationsBounded(t *testing.T) {
	ck := &countingKeys{}
	principals := map[string]policy.Rules{}
	for i := range 12 {
		principals["c"+strconv.Itoa(i)] = policy.Rules{Custodian: true}
	}
	f := newFixtureWith(t, fixtureOptions{principals: principals, wrapKeys: func(k server.Keyring) server.Keyring { ck.Keyring = k; return ck }})
	f.keys.Lock()
	var wg sync.WaitGroup
	statuses := make([]int, 12)
	codes := make([]string, 12)
	for i := range 12 {
		wg.Go(func() {
			status, e, h := post(t, f, "c"+strconv.Itoa(i), "/v1/unlock", []byte(`{"passphrase":"wrong"}`))
			statuses[i], codes[i] = status, e.Code
			if status == 503 && h.Get("Retry-After") == "" {
				t.Errorf("503 %s without Retry-After", e.Code)
			}
		})
	}
	wg.Wait()
	for i := range 12 {
		if !(statuses[i] == 403 && codes[i] == "bad_passphrase" || statuses[i] == 503 && codes[i] == "unlock_busy") {
			t.Errorf("request %d: %d %s, want 403 bad_passphrase or 503 unlock_busy", i, statuses[i], codes[i])
		}
	}
	if p := ck.peak.Load(); p < 1 || p > 2 {
		t.Errorf("%d passphrase derivations ran at once, want 1 or 2", p)
	}
	if !f.keys.Locked() {
		t.Error("unlocked by wrong passphrases")
	}
}

// TestUnlockBackoff makes one principal fail its passphrase until it is
// throttled: 429 with Retry-After, even for the right passphrase, while
// another principal is still served; the attempts are counted.
func TestUnlockBackoff(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{principals: map[string]policy.Rules{"c1": {Custodian: true}}})
	f.keys.Lock()
	for i := range 4 {
		if status, e, _ := post(t, f, "admin", "/v1/unlock", []byte(`{"passphrase":"wrong"}`)); status != 403 || e.Code != "bad_passphrase" {
			t.Fatalf("wrong passphrase %d: %d %+v", i+1, status, e)
		}
	}
	status, e, h := post(t, f, "admin", "/v1/unlock", []byte(`{"passphrase":"test passphrase"}`))
	if n, _ := strconv.Atoi(h.Get("Retry-After")); status != 429 || e.Code != "too_many_attempts" || n < 1 {
		t.Fatalf("after 4 wrong passphrases: %d %+v Retry-After %q, want 429 too_many_attempts with Retry-After", status, e, h.Get("Retry-After"))
	}
	if !f.keys.Locked() {
		t.Fatal("a throttled principal unlocked")
	}
	if status, e, _ := post(t, f, "c1", "/v1/unlock", []byte(`{"passphrase":"test passphrase"}`)); status != 200 {
		t.Fatalf("another principal while admin is throttled: %d %+v", status, e)
	}
	m := scrape(t, f.metrics)
	for result, want := range map[string]float64{"bad_passphrase": 4, "throttled": 1, "unlocked": 1} {
		if got := metricValue(m, `signet_unlock_attempts_total{result="`+result+`"}`); got != want {
			t.Errorf("signet_unlock_attempts_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}
