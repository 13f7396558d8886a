package server_test

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/internal/pgtest"
)

// TestUnavailableHidesDetails stops the PostgreSQL of the audit log and
// runs a server whose log key is missing: the 503 bodies and /readyz say
// what is wrong in general terms with a request id, and never carry the
// database's user, host, port or error, nor the keystore's path.
func TestUnavailableHidesDetails(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, fixtureOptions{auditStore: func(tb testing.TB) audit.Store {
		s, err := audit.OpenPostgres(context.Background(), dsn)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}})
	secrets := []string{u.Port(), u.Hostname() + ":", "SQLSTATE", "dial tcp", "connect", "terminating", f.keys.Dir().Path()}
	if u.User != nil {
		secrets = append(secrets, "user="+u.User.Username(), `user "`+u.User.Username())
	}
	check := func(what, body string) {
		t.Helper()
		for _, s := range secrets {
			if s != "" && strings.Contains(body, s) {
				t.Errorf("%s tells the client %q: %s", what, s, body)
			}
		}
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first fails the commit; the second is refused before signing
		status, e, _ := post(t, f, "builder", "/v1/sign", []byte(signBodyFor("a.tar.gz")))
		if status != 503 || e.Code != "audit_unavailable" || e.RequestID == "" {
			t.Errorf("signing with the database stopped: %d %+v", status, e)
		}
		check("a 503 sign", e.Message)
	}
	status, e, _ := post(t, f, "admin", "/v1/keys", []byte(`{"name":"new","type":"ed25519"}`))
	if status != 503 {
		t.Errorf("creating a key with the database stopped: %d %+v", status, e)
	}
	check("a 503 key create", e.Message)
	resp, err := f.httpClient("admin").Get(f.url.JoinPath("/readyz").String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "audit log unwritable") || !strings.Contains(string(b), resp.Header.Get("X-Request-Id")) || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("/readyz with the database stopped: %d %q (X-Request-Id %q)", resp.StatusCode, b, resp.Header.Get("X-Request-Id"))
	}
	check("/readyz", string(b))

	// A log key that does not exist: the hint names the key, not where
	// the keystore lives.
	f2 := newFixtureWith(t, fixtureOptions{auditKey: "missing-log-key"})
	status, e, _ = post(t, f2, "builder", "/v1/sign", []byte(signBodyFor("a.tar.gz")))
	if status != 503 || strings.Contains(e.Message, f2.keys.Dir().Path()) || !strings.Contains(e.Message, "missing-log-key") {
		t.Errorf("signing without a log key: %d %q", status, e.Message)
	}
	if _, body := f2.readyz(t); strings.Contains(body, f2.keys.Dir().Path()) {
		t.Errorf("/readyz without a log key names the keystore's path: %s", body)
	}
}
