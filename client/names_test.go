package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestArtifactName(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
		outside    bool
	}{
		{"app.tar.gz", "app.tar.gz", false},
		{"dist/app.tar.gz", "dist/app.tar.gz", false},
		{"./dist//app.tar.gz", "dist/app.tar.gz", false},
		{"dist/sub/../app.tar.gz", "dist/app.tar.gz", false},
		{filepath.Join(wd, "dist", "app.tar.gz"), "dist/app.tar.gz", false},
		{"../app.tar.gz", "", true},
		{"dist/../../app.tar.gz", "", true},
		{"..", "", true},
		{filepath.Join(filepath.Dir(wd), "elsewhere", "app.tar.gz"), "", true},
		{"..app.tar.gz", "..app.tar.gz", false}, // a name that starts with dots, not an escape
	} {
		got, err := ArtifactName(tc.path)
		if got != tc.want || errors.Is(err, ErrOutside) != tc.outside {
			t.Errorf("ArtifactName(%q) = %q, %v; want %q (outside %v)", tc.path, got, err, tc.want, tc.outside)
		}
	}
	if _, err := ArtifactName("."); err == nil {
		t.Error("ArtifactName(.) named the working directory")
	}

	// WithName overrides; a library caller's file outside the working
	// directory keeps its base name.
	ctx := WithName(context.Background(), "./other/app.tar.gz", "dist/renamed.tar.gz")
	for p, want := range map[string]string{
		"other/app.tar.gz":      "dist/renamed.tar.gz",
		"other/lib.tar.gz":      "other/lib.tar.gz",
		"/nonexistent/x.tar.gz": "x.tar.gz",
	} {
		if got := itemName(ctx, p); got != want {
			t.Errorf("itemName(%q) = %q, want %q", p, got, want)
		}
	}
}
