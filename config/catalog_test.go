package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/catalog"
)

const catalogYAML = `
catalogs:
  - name: debian
    type: apt-release
    root: repo/debian
    path: dists/{suite}/Release
    params:
      suite: [stable, testing]
    key: archive
    principals: [ci]
    max_bytes: 1048576
`

func TestCatalogs(t *testing.T) {
	dir := t.TempDir()
	minimal := string(readFile(t, "testdata/minimal.yaml"))
	p := filepath.Join(dir, "signet.yaml")
	os.WriteFile(p, []byte(minimal+catalogYAML), 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Catalogs) != 1 {
		t.Fatalf("catalogs %+v", c.Catalogs)
	}
	cat := c.Catalogs[0]
	if cat.Type != catalog.APTRelease || cat.Root != filepath.Join(dir, "repo/debian") || cat.MaxBytes != 1<<20 || strings.Join(cat.Params["suite"], ",") != "stable,testing" {
		t.Fatalf("catalog %+v", cat)
	}
	if _, err := c.CatalogSet(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ old, new, want string }{
		{"type: apt-release", "type: apt", `catalog "debian": type "apt" is not one of`},
		{"principals: [ci]", "principals: [nobody]", `principal "nobody" is not defined`},
		{"    root: repo/debian\n", "", `catalog "debian": root is required`},
		{"      suite: [stable, testing]", "      suite: [../x]", `params.suite value "../x"`},
		{"    key: archive", "    key: archive\n    keys: [x]", "catalogs[0].keys: unknown field"},
		{"path: dists/{suite}/Release", "path: dists/{suite}/{arch}/Release", "{arch} has no allowed values"},
		{"max_bytes: 1048576", "max_bytes: -1", "max_bytes is negative"},
		{"catalogs:\n", "catalogs:\n  - name: debian\n    type: sha256sums\n    root: r\n    path: SUMS\n    key: k\n    principals: [ci]\n", `catalog "debian" is defined twice`},
	} {
		y := minimal + catalogYAML
		if !strings.Contains(y, tc.old) {
			t.Fatalf("no %q in the test config", tc.old)
		}
		_, err := Parse([]byte(strings.Replace(y, tc.old, tc.new, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q → %q: error %v, want one containing %q", tc.old, tc.new, err, tc.want)
		}
	}
}
