// Package policy decides whether a principal may do what it asks.
//
// A Policy maps principal names to their Rules: whether the principal is an
// administrator (creates keys and manages the keystore) and which Grants it
// holds for signing. A Grant names keys, signature formats and artifact
// names, each as a list of shell patterns (path.Match syntax); a request is
// allowed when one grant matches all three. Nothing is allowed by default:
// a principal without rules, or a request no grant covers, is denied.
//
// Custody (unlocking with a passphrase or a share, locking, reading the
// keystore's status) is allowed to custodians and administrators; a
// custodian holds no other right.
//
// Administration, auditing, token issuance and signing are separate: an
// administrator holds no signing rights unless a Grant gives them, a signing
// grant never allows key management, auditors (audit: true) read the audit
// log and do nothing else, and only principals with issue_tokens may hand
// out tokens — never for more than their own grants cover.
//
// Delegation is a right of its own. A principal with delegate: true (the
// host certificate of a build machine running `signet agent`) may act on
// behalf of the local users the agent names, optionally only those whose
// names match local_users. A delegated request is authorized against the
// delegating principal's grants — the agent has already narrowed it to the
// local user's — and may only sign: administration, auditing and token
// issuance need the principal's own credentials, never a local user's.
//
// Artifact names are clean relative paths (CheckArtifactName): '*' in a
// pattern matches any characters but '/', "..", "." and "" included, so
// "nightly/*/*.tar.gz" would otherwise admit "nightly/../evil.tar.gz".
// Authorize refuses such a name whatever the grants say, and so does
// Grant.Allows; the server's request decoders refuse it before that.
//
// Authorize is a pure function of the policy and the request, so it is cheap
// on the hot path and easy to test from a table. A denial is a *Denial whose
// message says what was refused and which grant would be needed.
package policy

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Action is what a principal asks to do.
type Action string

const (
	Sign       Action = "sign"        // sign with a key in a format
	Admin      Action = "admin"       // create keys, hand the keystore to custodians
	Audit      Action = "audit"       // read the audit log's entries
	IssueToken Action = "issue-token" // issue a token for a key in a format
	Custody    Action = "custody"     // unlock (passphrase or share), lock, see the keystore's status
	Delegate   Action = "delegate"    // act on behalf of Request.LocalUser
)

// Grant allows signing with the keys, in the formats, for the artifact names
// its patterns match. An empty list matches nothing.
type Grant struct {
	Keys      []string `yaml:"keys"`
	Formats   []string `yaml:"formats"`
	Artifacts []string `yaml:"artifacts"`
}

// Rules are everything one principal may do.
type Rules struct {
	Admin       bool `yaml:"admin"`
	Custodian   bool `yaml:"custodian"`    // may unlock, lock and see status; admins may too
	Audit       bool `yaml:"audit"`        // may read and search the audit log; admins may too
	IssueTokens bool `yaml:"issue_tokens"` // may issue tokens within its own grants
	// Delegate lets the principal act on behalf of local users that a
	// signet agent vouches for; LocalUsers, if set, are patterns of the
	// local user names it may name (default: any).
	Delegate   bool     `yaml:"delegate"`
	LocalUsers []string `yaml:"local_users"`
	Grants     []Grant  `yaml:"grants"`
}

// Policy holds the rules of every principal, by principal name.
type Policy struct {
	rules map[string]Rules
}

// New returns a Policy for rules, after checking that every pattern is
// well formed.
func New(rules map[string]Rules) (*Policy, error) {
	for name, r := range rules {
		for _, p := range r.LocalUsers {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("principal %q local_users: bad pattern %q: %w", name, p, err)
			}
		}
		if len(r.LocalUsers) > 0 && !r.Delegate {
			return nil, fmt.Errorf("principal %q lists local_users but may not delegate; add delegate: true or remove local_users", name)
		}
		for i, g := range r.Grants {
			for _, p := range g.Artifacts {
				if err := checkSegments(p); err != nil {
					return nil, fmt.Errorf("principal %q grant %d: %w", name, i+1, CheckArtifactPattern(p))
				}
			}
			for _, list := range [][]string{g.Keys, g.Formats, g.Artifacts} {
				for _, p := range list {
					if _, err := path.Match(p, ""); err != nil {
						return nil, fmt.Errorf("principal %q grant %d: bad pattern %q: %w", name, i+1, p, err)
					}
				}
			}
		}
	}
	return &Policy{rules: rules}, nil
}

// Request is one decision to make.
type Request struct {
	Principal string
	Action    Action
	Key       string // for Sign and IssueToken
	Format    string // for Sign and IssueToken
	Artifact  string // for Sign: the name of the artifact being signed
	// LocalUser is the local user a signet agent asserts the request is
	// made for; "" when the principal acts for itself.
	LocalUser string
}

// ErrDenied is matched by every *Denial.
var ErrDenied = errors.New("permission denied")

// Denial is the reason a request was refused.
type Denial struct {
	Request Request
	Reason  string
}

func (d *Denial) Error() string {
	return fmt.Sprintf("permission denied: principal %q %s", d.Request.Principal, d.Reason)
}

func (d *Denial) Is(target error) bool { return target == ErrDenied }

// ArtifactDenial is a Denial of one artifact name only: the principal may
// use the key in the format, for other artifacts. The other items of a
// batch may still be signed without it.
type ArtifactDenial struct{ *Denial }

func (d *ArtifactDenial) Unwrap() error { return d.Denial }

// Authorize returns nil if r is allowed and a *Denial if not.
func (p *Policy) Authorize(r Request) error {
	rules, ok := p.rules[r.Principal]
	if !ok {
		return &Denial{r, "has no grants; add it to the principals in the server config"}
	}
	if r.LocalUser != "" {
		switch {
		case !rules.Delegate:
			return &Denial{r, fmt.Sprintf("may not act on behalf of local users (needs delegate: true); its request for local user %q is refused", r.LocalUser)}
		case len(rules.LocalUsers) > 0 && !matchAny(rules.LocalUsers, r.LocalUser):
			return &Denial{r, fmt.Sprintf("may not act on behalf of local user %q (not in its local_users)", r.LocalUser)}
		case r.Action == Delegate:
			return nil
		case r.Action != Sign:
			return &Denial{r, fmt.Sprintf("may only sign on behalf of local user %q; %s needs the principal's own credentials", r.LocalUser, r.Action)}
		}
	}
	switch r.Action {
	case Delegate:
		return &Denial{r, "asked to delegate without naming a local user"}
	case Admin:
		if !rules.Admin {
			return &Denial{r, "is not an administrator (needs admin: true)"}
		}
		return nil
	case Custody:
		if !rules.Custodian && !rules.Admin {
			return &Denial{r, "is neither a custodian nor an administrator (needs custodian: true)"}
		}
		return nil
	case Audit:
		if !rules.Audit && !rules.Admin {
			return &Denial{r, "may not read the audit log (needs audit: true)"}
		}
		return nil
	case IssueToken:
		if !rules.IssueTokens {
			return &Denial{r, "may not issue tokens (needs issue_tokens: true)"}
		}
		if !slices.ContainsFunc(rules.Grants, func(g Grant) bool { return matchAny(g.Keys, r.Key) && matchAny(g.Formats, r.Format) }) {
			return &Denial{r, fmt.Sprintf("may not issue a token for key %q in format %q: a token cannot grant more than its issuer holds", r.Key, r.Format)}
		}
		return nil
	case Sign:
		if !slices.ContainsFunc(rules.Grants, func(g Grant) bool { return matchAny(g.Keys, r.Key) }) {
			return &Denial{r, fmt.Sprintf("may not use key %q", r.Key)}
		}
		if !slices.ContainsFunc(rules.Grants, func(g Grant) bool { return matchAny(g.Keys, r.Key) && matchAny(g.Formats, r.Format) }) {
			return &Denial{r, fmt.Sprintf("may not use key %q in format %q", r.Key, r.Format)}
		}
		if err := CheckArtifactName(r.Artifact); err != nil {
			return &ArtifactDenial{&Denial{r, fmt.Sprintf("may not sign artifact %.80q under any grant: %v", r.Artifact, err)}}
		}
		if !slices.ContainsFunc(rules.Grants, func(g Grant) bool { return g.Allows(r) }) {
			return &ArtifactDenial{&Denial{r, fmt.Sprintf("may not sign artifact %q with key %q in format %q", r.Artifact, r.Key, r.Format)}}
		}
		return nil
	}
	return &Denial{r, fmt.Sprintf("asked for unknown action %q", r.Action)}
}

// MayUseKey reports whether principal may sign with key in some format, or
// administers the keystore. It decides which keys a principal can see.
func (p *Policy) MayUseKey(principal, key string) bool {
	rules := p.rules[principal]
	return rules.Admin || slices.ContainsFunc(rules.Grants, func(g Grant) bool { return matchAny(g.Keys, key) })
}

// Allows reports whether g covers signing r.Artifact with r.Key in r.Format.
// It never covers a name CheckArtifactName refuses.
func (g Grant) Allows(r Request) bool {
	return matchAny(g.Keys, r.Key) && matchAny(g.Formats, r.Format) && matchAny(g.Artifacts, r.Artifact) && CheckArtifactName(r.Artifact) == nil
}

// ErrBadArtifactName is matched by the errors of CheckArtifactName.
var ErrBadArtifactName = errors.New("bad artifact name")

// nameError is a refused artifact name.
type nameError struct{ msg string }

func (e *nameError) Error() string        { return e.msg }
func (e *nameError) Is(target error) bool { return target == ErrBadArtifactName }

func badName(format string, args ...any) error { return &nameError{fmt.Sprintf(format, args...)} }

// CheckArtifactName checks that name is a clean relative path: 1 to 1024
// bytes, segments separated by '/', none of them empty, "." or "..", no
// leading '/', and no backslash (a separator on Windows, and an escape in
// patterns). It says nothing of which characters the segments hold
// (api.CheckArtifactName adds that they be printable).
func CheckArtifactName(name string) error {
	if name == "" {
		return badName("artifact name is empty; name what you are signing")
	}
	if len(name) > 1024 {
		return badName("artifact name is %d bytes; the limit is 1024", len(name))
	}
	if strings.Contains(name, "\\") {
		return badName("artifact name %.80q contains a backslash; separate directories with '/'", name)
	}
	return checkSegments(name)
}

// CheckArtifactPattern checks a pattern of artifact names (path.Match
// syntax): well formed, and without a segment no name may have, which
// would make it match nothing.
func CheckArtifactPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil || p == "" {
		return fmt.Errorf("artifact pattern %.80q is not a valid pattern (path.Match syntax)", p)
	}
	if err := checkSegments(p); err != nil {
		return fmt.Errorf("artifact pattern %.80q can match no name: %w", p, err)
	}
	return nil
}

// checkSegments refuses a leading '/' and empty, "." and ".." segments
// (in a name, or in a pattern, where a backslash escapes).
func checkSegments(name string) error {
	if strings.HasPrefix(name, "/") {
		return badName("artifact name %.80q starts with '/'; name artifacts by a relative path such as %.80q", name, strings.TrimLeft(name, "/"))
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return badName("artifact name %.80q has an empty segment (\"//\" or a trailing '/'); name artifacts by a clean relative path such as %.80q", name, cleanName(name))
		case ".", "..":
			return badName("artifact name %.80q has a %q segment; name artifacts by a clean relative path such as %.80q", name, seg, cleanName(name))
		}
	}
	return nil
}

// cleanName suggests a clean name for a refused one.
func cleanName(name string) string {
	var out []string
	for seg := range strings.SplitSeq(name, "/") {
		if seg != "" && seg != "." && seg != ".." {
			out = append(out, seg)
		}
	}
	if len(out) == 0 {
		return "app.tar.gz"
	}
	return strings.Join(out, "/")
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if Match(p, s) {
			return true
		}
	}
	return false
}

// Match reports whether name matches pattern, in path.Match syntax: '*'
// stops at '/', so dist/*.tar.gz matches dist/app.tar.gz and not
// dist/sub/app.tar.gz. The pattern "*" alone is the exception: it
// matches every name, as a grant of everything means.
func Match(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	ok, _ := path.Match(pattern, name)
	return ok
}
