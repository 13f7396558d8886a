package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestAuthorize(t *testing.T) {
	p, err := New(map[string]Rules{
		"ops": {Admin: true},
		"ci":  {IssueTokens: true, Grants: []Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*"}}}},
		"builder": {Grants: []Grant{
			{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"firefox-*.tar.bz2"}},
			{Keys: []string{"nightly-*"}, Formats: []string{"raw", "ssh"}, Artifacts: []string{"*"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(who, key, format, artifact string) Request {
		return Request{Principal: who, Action: Sign, Key: key, Format: format, Artifact: artifact}
	}
	tests := []struct {
		req  Request
		deny string // "" means allowed
	}{
		{sign("builder", "release", "raw", "firefox-120.tar.bz2"), ""},
		{sign("builder", "nightly-2026", "ssh", "anything"), ""},
		{sign("builder", "release", "raw", "chrome-1.tar.bz2"), `may not sign artifact "chrome-1.tar.bz2"`},
		{sign("builder", "release", "ssh", "firefox-1.tar.bz2"), `may not use key "release" in format "ssh"`},
		{sign("builder", "legacy", "raw", "x"), `may not use key "legacy"`},
		{sign("builder", "nightly-x", "raw", "dir/file"), `may not sign artifact "dir/file"`}, // * does not cross /
		{sign("ops", "release", "raw", "x"), `may not use key "release"`},                     // admin is not a signing grant
		{sign("stranger", "release", "raw", "x"), "has no grants"},
		{Request{Principal: "ops", Action: Admin}, ""},
		{Request{Principal: "builder", Action: Admin}, "is not an administrator"},
		{Request{Principal: "ops", Action: "delete-everything"}, "unknown action"},
		{Request{Principal: "ci", Action: IssueToken, Key: "release", Format: "raw"}, ""},
		{Request{Principal: "ci", Action: IssueToken, Key: "legacy", Format: "raw"}, "cannot grant more than its issuer holds"},
		{Request{Principal: "ci", Action: IssueToken, Key: "release", Format: "ssh"}, `format "ssh"`},
		{Request{Principal: "builder", Action: IssueToken, Key: "release", Format: "raw"}, "may not issue tokens"},
		{Request{Principal: "ops", Action: IssueToken, Key: "release", Format: "raw"}, "may not issue tokens"},
	}
	for _, tt := range tests {
		err := p.Authorize(tt.req)
		switch {
		case tt.deny == "" && err != nil:
			t.Errorf("Authorize(%+v) = %v, want allowed", tt.req, err)
		case tt.deny != "" && err == nil:
			t.Errorf("Authorize(%+v) allowed, want denial %q", tt.req, tt.deny)
		case tt.deny != "" && (!strings.Contains(err.Error(), tt.deny) || !errors.Is(err, ErrDenied)):
			t.Errorf("Authorize(%+v) = %v, want ErrDenied containing %q", tt.req, err, tt.deny)
		}
	}
}

func TestMayUseKey(t *testing.T) {
	p, _ := New(map[string]Rules{
		"ops":     {Admin: true},
		"builder": {Grants: []Grant{{Keys: []string{"rel*"}, Formats: []string{"raw"}, Artifacts: []string{"*"}}}},
	})
	for _, tt := range []struct {
		who, key string
		want     bool
	}{
		{"ops", "anything", true},
		{"builder", "release", true},
		{"builder", "legacy", false},
		{"nobody", "release", false},
	} {
		if got := p.MayUseKey(tt.who, tt.key); got != tt.want {
			t.Errorf("MayUseKey(%q, %q) = %v, want %v", tt.who, tt.key, got, tt.want)
		}
	}
}

func TestNewRejectsBadPattern(t *testing.T) {
	_, err := New(map[string]Rules{"x": {Grants: []Grant{{Keys: []string{"[unclosed"}}}}})
	if err == nil || !strings.Contains(err.Error(), `bad pattern "[unclosed"`) {
		t.Fatalf("New = %v, want bad pattern error", err)
	}
}
