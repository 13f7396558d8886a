package server_test

import (
	"strings"
	"testing"

	"github.com/signet-dev/signet/server"
)

// TestTransitionUsageSeparation asks for transition statements involving
// the audit log key and the token key, on either side: each is refused
// with 400, and nothing is signed by those keys.
func TestTransitionUsageSeparation(t *testing.T) {
	f := newFixture(t, server.Limits{})
	for _, tt := range []struct{ old, new, key string }{
		{"audit-log", "release", "audit-log"},
		{"release", "audit-log", "audit-log"},
		{"tokens", "release", "tokens"},
		{"release", "tokens", "tokens"},
	} {
		status, e, _ := post(t, f, "admin", "/v1/transitions", []byte(`{"old":"`+tt.old+`","new":"`+tt.new+`"}`))
		if status != 400 || !strings.Contains(e.Message, `key "`+tt.key+`" has usage`) {
			t.Errorf("transition %s → %s: %d %q, want 400 naming %s's usage", tt.old, tt.new, status, e.Message, tt.key)
		}
	}
	for _, e := range f.entries(t) {
		if e.Action == "key.transition" && e.Decision == "allowed" {
			t.Errorf("a transition was signed: %+v", e)
		}
	}
}
