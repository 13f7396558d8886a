// Package thirdparty finds test data that other projects publish and that
// Signet's tests read but the repository does not hold: json-e's
// conformance suite and real .taskcluster.yml files of public projects.
//
// Such files are kept out of the repository's history on purpose (they are
// others' work, under others' licences). They are read from one directory:
// $SIGNET_THIRDPARTY_TESTDATA when set, else shared/testdata/ beside the
// repository (CI checks the repository out with a copy of the steering
// repository's shared/ next to it). A test whose file is missing skips,
// naming the file and where to put it: the tests written for this project
// cover the same ground without them.
//
// The layout under the directory:
//
//	json-e/specification.yml          json-e's specification.yml
//	taskcluster/<name>.taskcluster.yml  a project's .taskcluster.yml
package thirdparty

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// EnvVar names the directory of third-party test data.
const EnvVar = "SIGNET_THIRDPARTY_TESTDATA"

// Dir is the third-party test-data directory and how it was chosen, for
// messages.
func Dir() (dir, how string) {
	if d := os.Getenv(EnvVar); d != "" {
		return d, "$" + EnvVar
	}
	root, err := repoRoot()
	if err != nil {
		return filepath.Join("..", "shared", "testdata"), "<repo root>/../shared/testdata (repository root not found: " + err.Error() + ")"
	}
	return filepath.Join(filepath.Dir(root), "shared", "testdata"), "<repo root>/../shared/testdata"
}

// repoRoot is the directory of go.mod above the working directory (the
// test's package directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Read returns the file at rel (slash-separated, e.g.
// "json-e/specification.yml") under the third-party directory. When it is
// missing the test is skipped with a message naming the file and where to
// put it; any other read error fails the test.
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	dir, how := Dir()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("third-party test data %s is missing: put it at %s (the directory is %s; set $%s to use another); the package's testdata README names its source", rel, p, how, EnvVar)
	}
	if err != nil {
		t.Fatalf("third-party test data %s: %v", rel, err)
	}
	return b
}
