package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/keystore"
)

func TestKeystoreSection(t *testing.T) {
	minimal := string(readFile(t, "testdata/minimal.yaml"))
	tests := []struct {
		name    string
		yaml    string
		want    keystore.Timeouts
		wantErr []string
	}{
		{"defaults", "", keystore.Timeouts{IdleTTL: time.Hour, MaxTTL: 12 * time.Hour, PartialWindow: 15 * time.Minute}, nil},
		{"all set", "keystore:\n  idle_ttl: 30m\n  max_ttl: 8h\n  partial_unlock_window: 5m\n  pkcs11:\n    - {name: hsm, module: /usr/lib/softhsm/libsofthsm2.so, token_label: signet, keys: [\"hsm-*\"]}\n    - {name: hsm2, module: lib.so, slot: 3, keys: [other]}\n",
			keystore.Timeouts{IdleTTL: 30 * time.Minute, MaxTTL: 8 * time.Hour, PartialWindow: 5 * time.Minute}, nil},
		{"idle above max", "keystore: {idle_ttl: 9h, max_ttl: 8h}\n", keystore.Timeouts{}, []string{"keystore.idle_ttl 9h0m0s is longer than keystore.max_ttl 8h0m0s"}},
		{"negative", "keystore: {idle_ttl: -1s, partial_unlock_window: -1m}\n", keystore.Timeouts{}, []string{"keystore.idle_ttl is negative", "keystore.partial_unlock_window is negative"}},
		{"misspelt", "keystore: {idle: 1h}\n", keystore.Timeouts{}, []string{"keystore.idle: unknown field"}},
		{"token errors", "keystore:\n  pkcs11:\n    - {name: hsm, token_label: a, slot: 1, keys: [\"[\"]}\n    - {name: hsm, module: m.so}\n    - {name: \"Bad Name\", module: m.so, token_label: x, keys: [a]}\n",
			keystore.Timeouts{}, []string{
				"keystore.pkcs11[0].module is required",
				"keystore.pkcs11[0]: give exactly one of token_label and slot",
				`keystore.pkcs11[0].keys: bad pattern "["`,
				`keystore.pkcs11[1].name "hsm" is used twice`,
				"keystore.pkcs11[1]: give exactly one of token_label and slot",
				"keystore.pkcs11[1].keys is empty",
				"keystore.pkcs11[2].name: invalid key name",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(minimal + tt.yaml))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("Parse succeeded")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Timeouts(); got != tt.want {
				t.Errorf("Timeouts() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestKeystoreModuleResolved(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "signet.yaml")
	y := string(readFile(t, "testdata/minimal.yaml")) + "keystore:\n  pkcs11:\n    - {name: hsm, module: lib/p11.so, token_label: t, keys: [\"*\"]}\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Keystore.PKCS11[0].Module; got != filepath.Join(dir, "lib/p11.so") {
		t.Fatalf("module = %q", got)
	}
	// Attaching does not load the module: that happens at the first unlock.
	if err := keystore.Init(filepath.Join(dir, "ks"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	d, err := keystore.Open(filepath.Join(dir, "ks"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AttachTokens(d); err != nil {
		t.Fatal(err)
	}
	if ts := d.Tokens(); len(ts) != 1 || ts[0].Name != "hsm" || !strings.Contains(ts[0].Device, "lib/p11.so") {
		t.Fatalf("tokens %+v", ts)
	}
}
