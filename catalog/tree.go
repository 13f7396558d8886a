package catalog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// tree is a catalog root opened for one check. Every file is opened
// through an os.Root, so no path, symlink or ".." can lead outside the
// root, whatever the files under it say.
type tree struct {
	root *os.Root
}

func openTree(dir string) (*tree, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("catalog root: %w", err)
	}
	return &tree{root: r}, nil
}

func (t *tree) Close() error { return t.root.Close() }

// checkRel checks that p is a clean relative path of plain components: not
// empty, not absolute, no "", "." or ".." component, no NUL or backslash.
// It is the lexical half of path safety; os.Root is the other half.
func checkRel(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute; paths are relative to the catalog root", p)
	case strings.ContainsAny(p, "\x00\\"):
		return fmt.Errorf("path %q contains a NUL or backslash", p)
	case len(p) > 4096:
		return fmt.Errorf("path of %d bytes is too long", len(p))
	}
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "..":
			return fmt.Errorf("path %q contains \"..\"; references may not leave their directory", p)
		case "", ".":
			return fmt.Errorf("path %q is not clean (empty or \".\" component)", p)
		}
	}
	return nil
}

// join joins a clean directory (or ".") and a relative path from an index,
// after checking the latter.
func join(dir, p string) (string, error) {
	if err := checkRel(p); err != nil {
		return "", err
	}
	if dir == "." || dir == "" {
		return p, nil
	}
	return dir + "/" + p, nil
}

// open opens the regular file at rel. Symlinks are followed only while
// they stay inside the root; devices, FIFOs, sockets and directories are
// refused without blocking (a FIFO is opened non-blocking, then refused).
func (t *tree) open(rel string) (*os.File, int64, error) {
	if err := checkRel(rel); err != nil {
		return nil, 0, err
	}
	fi, err := t.root.Stat(rel)
	if err != nil {
		return nil, 0, describeOpenError(rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file (%s)", rel, fi.Mode().Type())
	}
	f, err := t.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, 0, describeOpenError(rel, err)
	}
	fi2, err := f.Stat()
	if err != nil || !fi2.Mode().IsRegular() || !os.SameFile(fi, fi2) {
		f.Close()
		return nil, 0, fmt.Errorf("%s changed while it was being opened", rel)
	}
	return f, fi2.Size(), nil
}

func describeOpenError(rel string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist", rel)
	case errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes"):
		return fmt.Errorf("%s resolves outside the catalog root (a symlink or \"..\" escapes it)", rel)
	}
	return fmt.Errorf("%s: %w", rel, err)
}

// readIndex reads the whole regular file at rel, refusing files larger
// than max bytes.
func (t *tree) readIndex(rel string, max int64) ([]byte, error) {
	f, size, err := t.open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if size > max {
		return nil, &TooLargeError{Path: rel, Size: size, Limit: max}
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", rel, err)
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Path: rel, Size: int64(len(b)), Limit: max}
	}
	return b, nil
}
