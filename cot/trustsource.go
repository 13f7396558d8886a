package cot

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// DefaultGitHubRaw serves GitHub files by commit.
const DefaultGitHubRaw = "https://raw.githubusercontent.com"

// fullRevision is a pinned revision: a full hg node or git commit (SHA-1
// or SHA-256), never a branch or tag name, which can move.
var fullRevision = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// TrustURL is a trust file in version control at a pinned revision.
type TrustURL struct {
	URL      string // where the file is fetched from
	Revision string // the revision it is pinned to
}

// ParseTrustURL recognises the URL of a file at a pinned revision:
//
//	https://HOST/REPO/raw-file/REV/PATH          hg (hgweb raw-file)
//	https://raw.githubusercontent.com/O/R/REV/PATH GitHub raw
//	https://github.com/O/R/blob/REV/PATH         GitHub, fetched raw
//
// REV must be a full revision. githubRaw replaces
// https://raw.githubusercontent.com (for tests; "" for the default). Plain
// http is accepted for loopback hosts only.
func ParseTrustURL(raw, githubRaw string) (*TrustURL, error) {
	if githubRaw == "" {
		githubRaw = DefaultGitHubRaw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("trust URL %.200q is not an https URL of a file", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("trust URL %.200q: only https is accepted (http for loopback only)", raw)
	}
	parts := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	pinned := func(rev string) (*TrustURL, error) {
		if !fullRevision.MatchString(rev) {
			return nil, fmt.Errorf("trust URL %.200q names revision %.80q; pin a full 40-character revision (a branch or tag can move)", raw, rev)
		}
		return &TrustURL{URL: u.String(), Revision: rev}, nil
	}
	for i, p := range parts {
		if p == "raw-file" && i+2 < len(parts) {
			return pinned(parts[i+1])
		}
	}
	switch {
	case u.Host == "github.com" && len(parts) >= 5 && parts[2] == "blob":
		t, err := pinned(parts[3])
		if err != nil {
			return nil, err
		}
		t.URL = strings.TrimRight(githubRaw, "/") + "/" + parts[0] + "/" + parts[1] + "/" + strings.Join(parts[3:], "/")
		return t, nil
	case "https://"+u.Host == DefaultGitHubRaw || strings.HasPrefix(raw, strings.TrimRight(githubRaw, "/")+"/"):
		rest := strings.TrimPrefix(strings.TrimPrefix(raw, strings.TrimRight(githubRaw, "/")+"/"), DefaultGitHubRaw+"/")
		rp := strings.Split(rest, "/")
		if len(rp) < 4 {
			return nil, fmt.Errorf("trust URL %.200q: a GitHub raw URL is OWNER/REPO/REVISION/PATH", raw)
		}
		return pinned(rp[2])
	}
	return nil, fmt.Errorf("trust URL %.200q is neither an hg raw-file URL (REPO/raw-file/REV/PATH) nor a GitHub file at a commit (raw.githubusercontent.com/O/R/REV/PATH or github.com/O/R/blob/REV/PATH)", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FetchTrust fetches the trust file at a pinned revision in version control
// and selects product, as LoadTrust does for a file. The Trust's Source
// names the URL and the revision. hc may be nil.
func FetchTrust(ctx context.Context, raw, githubRaw, product string, hc *http.Client) (*Trust, error) {
	tu, err := ParseTrustURL(raw, githubRaw)
	if err != nil {
		return nil, err
	}
	q, err := NewQueue(tu.URL, hc) // for its client and retry policy only
	if err != nil {
		return nil, err
	}
	b, err := q.web(nil, nil).getBytes(ctx, tu.URL, MaxTrustBytes)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", tu.URL, err)
	}
	set, err := ParseTrustSet(b)
	if err != nil {
		return nil, fmt.Errorf("trust file %s at revision %s: %w", tu.URL, tu.Revision, err)
	}
	t, err := set.Select(product)
	if err != nil {
		return nil, fmt.Errorf("trust file %s at revision %s: %w", tu.URL, tu.Revision, err)
	}
	t.Source = tu.URL + " at revision " + tu.Revision
	return t, nil
}
