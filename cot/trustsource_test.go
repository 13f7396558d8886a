package cot_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

// TestFetchTrust reads the trust file from version control at a pinned
// revision, served by a loopback server in hg raw-file and GitHub raw
// form, and checks that the report names the revision.
func TestFetchTrust(t *testing.T) {
	g := cottest.New(cottest.Options{})
	rev := strings.Repeat("ab12", 10)
	file := "products:\n" + asProduct("firefox", g.TrustYAML()) + asProduct("mobile", otherProduct(g))
	var paths []string
	vcs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		switch r.URL.Path {
		case "/ci/ci-config/raw-file/" + rev + "/cot/trust.yml", "/gh/releng/config/" + rev + "/trust.yml":
			w.Write([]byte(file))
		default:
			http.NotFound(w, r)
		}
	}))
	defer vcs.Close()
	ghRaw := vcs.URL + "/gh"
	tests := []struct {
		name, url, want string
	}{
		{"hg raw-file", vcs.URL + "/ci/ci-config/raw-file/" + rev + "/cot/trust.yml", vcs.URL + "/ci/ci-config/raw-file/" + rev + "/cot/trust.yml at revision " + rev + " (product firefox)"},
		{"GitHub raw", ghRaw + "/releng/config/" + rev + "/trust.yml", ghRaw + "/releng/config/" + rev + "/trust.yml at revision " + rev + " (product firefox)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := cot.FetchTrust(context.Background(), tc.url, ghRaw, "firefox", nil)
			if err != nil {
				t.Fatal(err)
			}
			o := serve(t, g)
			o.Trust, o.TaskType = tr, "signing"
			res := verify(t, g, "signing", o)
			if !res.Verified || res.Trust != tc.want {
				t.Fatalf("verified %v, trust %q; want %q:\n%s", res.Verified, res.Trust, tc.want, tree(res))
			}
			if !strings.Contains(tree(res), "\ntrust: "+tc.want+"\n") {
				t.Errorf("the report does not name the trust file and revision:\n%s", tree(res))
			}
		})
	}
	for _, bad := range []struct{ url, want string }{
		{vcs.URL + "/ci/ci-config/raw-file/default/cot/trust.yml", "pin a full 40-character revision"},
		{vcs.URL + "/ci/ci-config/raw-file/" + rev[:12] + "/cot/trust.yml", "pin a full 40-character revision"},
		{"https://github.com/releng/config/blob/main/trust.yml", "pin a full 40-character revision"},
		{"http://vcs.example.org/x/raw-file/" + rev + "/t.yml", "only https"},
		{"https://vcs.example.org/trust.yml", "neither an hg raw-file URL"},
		{vcs.URL + "/ci/ci-config/raw-file/" + rev + "/missing.yml", "HTTP 404"},
	} {
		if _, err := cot.FetchTrust(context.Background(), bad.url, ghRaw, "firefox", nil); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("FetchTrust(%s): err = %v, want %q", bad.url, err, bad.want)
		}
	}
	tu, err := cot.ParseTrustURL("https://github.com/releng/config/blob/"+rev+"/cot/trust.yml", "")
	if err != nil || tu.URL != "https://raw.githubusercontent.com/releng/config/"+rev+"/cot/trust.yml" || tu.Revision != rev {
		t.Errorf("github.com blob URL: %+v, %v", tu, err)
	}
}

// FuzzParseTrustURL: any string is accepted as a pinned URL or refused
// with an error, never a panic, and an accepted one names a full revision.
func FuzzParseTrustURL(f *testing.F) {
	rev := strings.Repeat("ab12", 10)
	for _, s := range []string{
		"https://hg.mozilla.org/ci/ci-configuration/raw-file/" + rev + "/cot.yml",
		"https://raw.githubusercontent.com/o/r/" + rev + "/x.yml",
		"https://github.com/o/r/blob/" + rev + "/x.yml",
		"http://127.0.0.1:1/raw-file/" + rev + "/x",
		"https://x/raw-file/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tu, err := cot.ParseTrustURL(s, "")
		if err != nil {
			return
		}
		if len(tu.Revision) != 40 && len(tu.Revision) != 64 {
			t.Fatalf("%q accepted with revision %q", s, tu.Revision)
		}
	})
}
