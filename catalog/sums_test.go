package catalog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSHA256SumsLikeCoreutils checks SHA256SUMS files with Signet and with
// the real `sha256sum -c --strict` over the same directory: whatever Signet
// accepts, sha256sum must accept too, so that the signed file means to its
// users what Signet checked. Signet may refuse more (forms no sha256sum
// writes); each row says what Signet does.
func TestSHA256SumsLikeCoreutils(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Fatalf("sha256sum (coreutils) is needed to compare with: %v", err)
	}
	root := t.TempDir()
	files := map[string]string{"a": "hi\n", "b c": "two words\n", "a\r": "a file whose name ends in CR\n"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	A, B := sha([]byte(files["a"])), sha([]byte(files["b c"]))
	CR := sha([]byte(files["a\r"]))
	for _, tt := range []struct {
		name, sums string
		refuse     string // what Signet says; "" means it accepts
	}{
		{"text mode", A + "  a\n", ""},
		{"binary mode", A + " *a\n", ""},
		{"no final newline", A + "  a", ""},
		{"empty lines", "\n" + A + "  a\n\n" + B + "  b c\n", ""},
		{"duplicate", A + "  a\n" + A + "  a\n", ""},
		{"escaped", "\\" + A + "  a\n", ""},
		{"CRLF", A + "  a\r\n", "carriage return"},
		{"CRLF empty line", A + "  a\n\r\n", "carriage return"},
		{"two CRs", CR + "  a\r\r\n", "carriage return"},
		{"blank line", " \n" + A + "  a\n", "only blanks"},
		{"tab line", A + "  a\n\t\n", "only blanks"},
		{"trailing blank in name", A + "  a \n", "does not exist"},
		{"wrong sum", B + "  a\n", "but the index lists"},
		{"missing file", A + "  nope\n", "does not exist"},
		{"empty", "", "lists no files"},
		{"only newlines", "\n\n", "lists no files"},
		{"single space", A + " a\n", "is not"},
		{"tab separator", A + "\ta\n", "is not"},
		{"comment", "# made by hand\n" + A + "  a\n", "is not"},
		{"leading blank", " " + A + "  a\n", "is not"},
		{"BSD tag", "SHA256 (a) = " + A + "\n", "is not"},
		{"dot path", A + "  ./a\n", "not clean"},
		{"upper-case hex", strings.ToUpper(A) + "  a\n", ""},
		{"short sum", A[:62] + "  a\n", "is not"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(root, "SHA256SUMS"), []byte(tt.sums), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sha256sum", "-c", "--strict", "SHA256SUMS")
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("running sha256sum: %v", err)
			}
			coreutils := err == nil

			c := newCatalog(t, Spec{Type: SHA256Sums, Root: root, Path: "SHA256SUMS"})
			_, err = c.Check(context.Background(), nil, sum([]byte(tt.sums)))
			switch {
			case tt.refuse == "" && err != nil:
				t.Errorf("Signet refuses %q: %v", tt.sums, err)
			case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
				t.Errorf("Signet on %q: %v; want a refusal saying %q", tt.sums, err, tt.refuse)
			}
			if err == nil && !coreutils {
				t.Errorf("Signet accepts %q, which sha256sum -c --strict refuses:\n%s", tt.sums, out)
			}
			t.Logf("sha256sum -c --strict: ok=%v; Signet: %v", coreutils, err)
		})
	}
}

// TestHashLimit lists one sparse file under many hard links, as a
// publisher able to write under the root could, to make one request hash
// far more than the repository holds: the check stops at max_hash_bytes.
func TestHashLimit(t *testing.T) {
	root := t.TempDir()
	const size = 16 << 20
	f, err := os.Create(filepath.Join(root, "sparse.iso"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	zeros := sha(make([]byte, size))
	var sums strings.Builder
	for i := range 8 {
		name := fmt.Sprintf("link-%d.iso", i)
		if err := os.Link(filepath.Join(root, "sparse.iso"), filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sums, "%s  %s\n", zeros, name)
	}
	b := []byte(sums.String())
	if err := os.WriteFile(filepath.Join(root, "SHA256SUMS"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	limited := newCatalog(t, Spec{Type: SHA256Sums, Root: root, Path: "SHA256SUMS", MaxHashBytes: 40 << 20})
	_, err = limited.Check(context.Background(), nil, sum(b))
	var hl *HashLimitError
	if !errors.As(err, &hl) || hl.Limit != 40<<20 || !strings.Contains(err.Error(), "max_hash_bytes") {
		t.Fatalf("Check over the limit: %v", err)
	}
	// Within the default, the same catalog is checked.
	c := newCatalog(t, Spec{Type: SHA256Sums, Root: root, Path: "SHA256SUMS"})
	if c.maxHash != DefaultMaxHashBytes {
		t.Errorf("default max_hash_bytes %d, want %d", c.maxHash, DefaultMaxHashBytes)
	}
	r, err := c.Check(context.Background(), nil, sum(b))
	if err != nil || r.References != 8 {
		t.Fatalf("Check within the default limit: %+v, %v", r, err)
	}
	if err := (&Spec{Name: "x", Type: SHA256Sums, Root: root, Path: "SHA256SUMS", Key: "k", Principals: []string{"p"}, MaxHashBytes: -1}).Check(); err == nil || !strings.Contains(err.Error(), "max_hash_bytes") {
		t.Errorf("negative max_hash_bytes: %v", err)
	}
}

// TestHashLimitAPT: the indexes an APT Release lists are read, hashed
// and decompressed again to be parsed; those bytes count too.
func TestHashLimitAPT(t *testing.T) {
	root := t.TempDir()
	release := aptRepo(t, root, 5)
	var total int64
	filepath.WalkDir(filepath.Join(root, "dists"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasSuffix(p, "/Release") {
			fi, _ := d.Info()
			total += fi.Size()
		}
		return nil
	})
	// Enough to hash every listed index once, not to read them again.
	c := newCatalog(t, Spec{Type: APTRelease, Root: root, Path: "dists/{suite}/Release", Params: map[string][]string{"suite": {"stable"}}, MaxHashBytes: total})
	_, err := c.Check(context.Background(), stable, sum(release))
	var hl *HashLimitError
	if !errors.As(err, &hl) {
		t.Fatalf("Check: %v; want a HashLimitError", err)
	}
}
