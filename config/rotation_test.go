package config

import (
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid configuration, to which tests add.
const minimal = `
listen: 127.0.0.1:8443
data: /var/lib/signet
tls: {cert: s.pem, key: s-key.pem, client_cas: [ca.pem]}
principals: [{name: admin, certificate: {sha256: "AB"}, admin: true}]
`

func TestRotationConfig(t *testing.T) {
	c, err := Parse([]byte(minimal + `
rotation:
  keys:
    nightly: {rotate_every: 168h}
    release: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.KeyListKey() != "key-list" || c.RotateEvery("nightly") != 168*time.Hour || c.RotateEvery("release") != 0 || c.RotateEvery("other") != 0 {
		t.Fatalf("rotation: key list %q, nightly %v", c.KeyListKey(), c.RotateEvery("nightly"))
	}
	for _, tc := range []struct{ yaml, want string }{
		{"rotation: {keys: {nightly: {rotate_every: -1h}}}", "negative"},
		{"rotation: {keys: {nightly: {rotate_every: 10s}}}", "shorter than"},
		{"rotation: {keys: {Nightly: {rotate_every: 1h}}}", "invalid key name"},
		{"rotation: {keys: {audit-log: {rotate_every: 1h}}}", "pinned"},
		{"rotation: {keys: {key-list: {rotate_every: 1h}}}", "pinned"},
		{"rotation: {key_list_key: '../x'}", "rotation.key_list_key"},
		{"rotation: {keys: {nightly: {rotate_evry: 1h}}}", "rotate_evry"},
	} {
		_, err := Parse([]byte(minimal + tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}
