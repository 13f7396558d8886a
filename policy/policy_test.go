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
		{sign("builder", "release", "raw", "dir/firefox-1.tar.bz2"), `may not sign artifact "dir/firefox-1.tar.bz2"`}, // * does not cross /
		{sign("builder", "nightly-x", "raw", "dir/file"), ""},                                                         // but "*" alone matches every name
		{sign("ops", "release", "raw", "x"), `may not use key "release"`},                                             // admin is not a signing grant
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
		// Only a denial of the artifact name alone leaves other artifacts
		// of a batch signable.
		var ad *ArtifactDenial
		if got, want := errors.As(err, &ad), strings.Contains(tt.deny, "may not sign artifact"); got != want {
			t.Errorf("Authorize(%+v) = %v: ArtifactDenial %v, want %v", tt.req, err, got, want)
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

func TestDelegation(t *testing.T) {
	release := []Grant{{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"*.tar.gz"}}}
	p, err := New(map[string]Rules{
		// A build host running signet agent for any local user.
		"host": {Delegate: true, Admin: true, Audit: true, IssueTokens: true, Grants: release},
		// A host that may vouch only for its build accounts.
		"ci-host": {Delegate: true, LocalUsers: []string{"build-*"}, Grants: release},
		// A principal with grants but no right to delegate.
		"builder": {Grants: release},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := func(who, local string, a Action) Request {
		r := Request{Principal: who, Action: a, LocalUser: local}
		if a == Sign {
			r.Key, r.Format, r.Artifact = "release", "raw", "app.tar.gz"
		}
		return r
	}
	tests := []struct {
		req  Request
		deny string // "" means allowed
	}{
		{req("host", "alice", Delegate), ""},
		{req("host", "alice", Sign), ""},
		{Request{Principal: "host", Action: Sign, Key: "release", Format: "raw", Artifact: "app.zip", LocalUser: "alice"}, `may not sign artifact "app.zip"`}, // the host's grants bound the local user
		{Request{Principal: "host", Action: Sign, Key: "other", Format: "raw", Artifact: "app.tar.gz", LocalUser: "alice"}, `may not use key "other"`},
		{req("host", "", Sign), ""}, // the host signs for itself
		{req("host", "alice", Admin), `may only sign on behalf of local user "alice"; admin needs the principal's own credentials`},
		{req("host", "alice", Audit), "may only sign on behalf"},
		{Request{Principal: "host", Action: IssueToken, Key: "release", Format: "raw", LocalUser: "alice"}, "may only sign on behalf"},
		{req("host", "", Admin), ""},
		{req("host", "", Delegate), "without naming a local user"},
		{req("ci-host", "build-7", Sign), ""},
		{req("ci-host", "build-7", Delegate), ""},
		{req("ci-host", "alice", Delegate), `may not act on behalf of local user "alice" (not in its local_users)`},
		{req("ci-host", "alice", Sign), "not in its local_users"},
		{req("builder", "alice", Delegate), `may not act on behalf of local users (needs delegate: true); its request for local user "alice" is refused`},
		{req("builder", "alice", Sign), "needs delegate: true"},
		{req("builder", "", Sign), ""},
		{req("stranger", "alice", Delegate), "has no grants"},
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

func TestNewRejectsBadDelegation(t *testing.T) {
	for _, tt := range []struct {
		rules Rules
		want  string
	}{
		{Rules{Delegate: true, LocalUsers: []string{"[a-"}}, `local_users: bad pattern "[a-"`},
		{Rules{LocalUsers: []string{"alice"}}, "lists local_users but may not delegate"},
	} {
		_, err := New(map[string]Rules{"host": tt.rules})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", tt.rules, err, tt.want)
		}
	}
}

// TestArtifactNameSegments: '*' matches any characters but '/', so a
// grant of "nightly/*/*.tar.gz" must not admit names that climb out of
// nightly/ or that name the same file several ways.
func TestArtifactNameSegments(t *testing.T) {
	grant := Grant{Keys: []string{"release"}, Formats: []string{"raw"}, Artifacts: []string{"nightly/*/*.tar.gz", "*", "*/*"}}
	p, err := New(map[string]Rules{"builder": {Grants: []Grant{grant}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		bad  string // "" means allowed
	}{
		{"nightly/1.2/app.tar.gz", ""},
		{"app.tar.gz", ""},
		{"dir/app..tar.gz", ""}, // ".." inside a segment is a name
		{"dir/.hidden", ""},     // so is a leading dot
		{"dir/...", ""},         // three dots are a name too
		{"nightly/../evil.tar.gz", `".." segment`},
		{"nightly/./evil.tar.gz", `"." segment`},
		{"nightly//evil.tar.gz", "empty"},
		{"..", `".." segment`},
		{".", `"." segment`},
		{"../evil.tar.gz", `".." segment`},
		{"dir/..", `".." segment`},
		{"dir/", "empty"},
		{"/etc/passwd", "starts with '/'"},
		{"/", "starts with '/'"},
		{`nightly\..\evil.tar.gz`, "backslash"},
		{`a\b`, "backslash"},
		{"", "empty"},
		{strings.Repeat("a", 1025), "limit is 1024"},
	} {
		err := CheckArtifactName(tt.name)
		if (err == nil) != (tt.bad == "") || (err != nil && (!errors.Is(err, ErrBadArtifactName) || !strings.Contains(err.Error(), strings.Trim(tt.bad, `"`)))) {
			t.Errorf("CheckArtifactName(%.40q) = %v, want %q", tt.name, err, tt.bad)
		}
		r := Request{Principal: "builder", Action: Sign, Key: "release", Format: "raw", Artifact: tt.name}
		err = p.Authorize(r)
		var ad *ArtifactDenial
		switch {
		case tt.bad == "" && err != nil:
			t.Errorf("Authorize(%.40q) = %v, want allowed", tt.name, err)
		case tt.bad != "" && (err == nil || !errors.As(err, &ad) || !errors.Is(err, ErrDenied)):
			t.Errorf("Authorize(%.40q) = %v, want an artifact denial", tt.name, err)
		}
		if got := grant.Allows(r); got != (tt.bad == "") {
			t.Errorf("Grant.Allows(%.40q) = %v", tt.name, got)
		}
	}
}

// TestNewRejectsDeadArtifactPatterns: a pattern with a segment no name
// may have can match nothing; saying so beats a grant that silently
// allows nothing.
func TestNewRejectsDeadArtifactPatterns(t *testing.T) {
	for _, pat := range []string{"nightly/../*", "./*", "/srv/*", "a//b", "dist/"} {
		_, err := New(map[string]Rules{"x": {Grants: []Grant{{Keys: []string{"k"}, Formats: []string{"raw"}, Artifacts: []string{pat}}}}})
		if err == nil || !strings.Contains(err.Error(), "can match no name") {
			t.Errorf("New with artifact pattern %q = %v, want it refused", pat, err)
		}
	}
	if _, err := New(map[string]Rules{"x": {Grants: []Grant{{Keys: []string{"k"}, Formats: []string{"raw"}, Artifacts: []string{`app\[1\].tar.gz`, "*", "catalog:apt"}}}}}); err != nil {
		t.Errorf("New with escaped and plain patterns: %v", err)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "app.tar.gz", true},
		{"*", "dist/sub/app.tar.gz", true}, // "*" alone: everything
		{"*.tar.gz", "app.tar.gz", true},
		{"*.tar.gz", "dist/app.tar.gz", false},
		{"dist/*.tar.gz", "dist/app.tar.gz", true},
		{"dist/*.tar.gz", "dist/sub/app.tar.gz", false},
		{"dist/*", "dist/sub/app.tar.gz", false},
		{"[", "[", false}, // malformed: matches nothing
	} {
		if got := Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}
