package client

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestIsOutput(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"dist/app.tar.gz", false},
		{"dist/app.tar.gz.sig", true},
		{"dist/app.tar.gz.sig.receipt", true},
		{"app.asc", true},
		{"app.minisig", true},
		{"app.intoto.json", true},
		{"repo/dists/stable/Release.gpg", true},
		{"repo/dists/stable/InRelease", true},
		{"repo/dists/stable/Release", false},
		{".sig", false}, // a name that is only the suffix signs nothing
		{"signature", false},
		{"app.sig.tar", false},
	} {
		if got := IsOutput(tc.path); got != tc.want {
			t.Errorf("IsOutput(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	sign, outs := LeaveOutOutputs([]string{"a", "a.sig", "b", "a.sig.receipt"})
	if len(sign) != 2 || sign[0] != "a" || sign[1] != "b" || len(outs) != 2 || outs[0] != "a.sig" {
		t.Errorf("LeaveOutOutputs = %q, %q", sign, outs)
	}
}

func TestCheckReplace(t *testing.T) {
	dir := t.TempDir()
	receipt := func(key, format string) string {
		return `{"index":0,"entry":"` + b64(`{"time":"2026-01-01T00:00:00Z","server":"s","request_id":"r","action":"sign","decision":"allow","principal":{"name":"p"},"key":{"name":"`+key+`"},"format":"`+format+`"}`) + `","proof":[],"checkpoint":""}`
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verifies := func([]byte) bool { return true }
	fails := func([]byte) bool { return false }
	same := write("same.sig", "x")
	write("same.sig.receipt", receipt("release", "raw"))
	other := write("other.sig", "x")
	write("other.sig.receipt", receipt("archive", "pgp"))
	bare := write("bare.sig", "x")
	for _, tc := range []struct {
		name, key, format string
		ours              func([]byte) bool
		refused           bool
	}{
		{filepath.Join(dir, "absent.sig"), "release", "raw", nil, false},
		{same, "release", "raw", fails, false},
		{same, "release", "pgp", verifies, true},
		{same, "other", "raw", verifies, true},
		{other, "release", "raw", verifies, true},
		{other, "archive", "pgp", nil, false},
		{bare, "release", "raw", verifies, false},
		{bare, "release", "raw", fails, true},
		{bare, "release", "pgp", nil, true},
	} {
		err := CheckReplace(tc.name, tc.key, tc.format, tc.ours)
		if refused := errors.Is(err, ErrOtherSignature); refused != tc.refused || (err != nil && !refused) {
			t.Errorf("CheckReplace(%s, %s, %s) = %v, want refused %v", filepath.Base(tc.name), tc.key, tc.format, err, tc.refused)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
