package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A file is signed under a name: the artifact name that grants match
// (dist/*.tar.gz), that the audit log records and that audit search and
// incident reports show. The name is the file's path as given, cleaned,
// in slash form and relative to the working directory: "dist/app.tar.gz"
// for dist/app.tar.gz, ./dist/app.tar.gz or $PWD/dist/app.tar.gz. A path
// outside the working directory (../app.tar.gz, /srv/app.tar.gz from
// elsewhere) has no such name: the CLI refuses it and says to name it
// with --name, or to run from a directory above it. WithName gives a
// file another name.

// ErrOutside is the error of a path outside the working directory.
var ErrOutside = errors.New("is outside the working directory")

// ArtifactName returns the name the file at p is signed under.
func ArtifactName(p string) (string, error) {
	clean := filepath.Clean(p)
	if filepath.IsAbs(clean) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(wd, clean)
		if err != nil {
			return "", fmt.Errorf("%s %w", p, ErrOutside)
		}
		clean = rel
	}
	name := filepath.ToSlash(clean)
	if name == ".." || strings.HasPrefix(name, "../") {
		return "", fmt.Errorf("%s %w, so it has no name relative to it", p, ErrOutside)
	}
	if name == "." {
		return "", fmt.Errorf("%s is the working directory, not a file", p)
	}
	return path.Clean(name), nil
}

type namesKey struct{}

// WithName returns a context in which the file at p is signed under name
// rather than its ArtifactName.
func WithName(ctx context.Context, p, name string) context.Context {
	return WithNames(ctx, map[string]string{p: name})
}

// WithNames returns a context in which each file (a key of names) is
// signed under its name in names.
func WithNames(ctx context.Context, names map[string]string) context.Context {
	all := map[string]string{}
	if old, ok := ctx.Value(namesKey{}).(map[string]string); ok {
		for k, v := range old {
			all[k] = v
		}
	}
	for p, name := range names {
		all[filepath.Clean(p)] = name
	}
	return context.WithValue(ctx, namesKey{}, all)
}

// itemName is the name the file at p is signed under in ctx: the one
// WithName gave, or its ArtifactName. Library callers that sign files
// outside the working directory (temporary files) get their base name.
func itemName(ctx context.Context, p string) string {
	if names, ok := ctx.Value(namesKey{}).(map[string]string); ok {
		if n, ok := names[filepath.Clean(p)]; ok {
			return n
		}
	}
	if n, err := ArtifactName(p); err == nil {
		return n
	}
	return filepath.Base(p)
}
