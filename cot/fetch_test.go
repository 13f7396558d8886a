package cot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

func fetch(t *testing.T, g *cottest.Graph, o cot.Options, dir string, sel ...string) (*cot.Result, *cot.Manifest, error) {
	t.Helper()
	o.TaskType = "beetmover"
	return cot.Fetch(context.Background(), g.ByRole["beetmover"].ID, dir, sel, o)
}

func TestFetch(t *testing.T) {
	g := cottest.New(cottest.Options{})
	o := serve(t, g)
	dir := t.TempDir()
	res, m, err := fetch(t, g, o, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified {
		t.Fatalf("not verified:\n%s", tree(res))
	}
	sign, win := g.ByRole["signing"], g.ByRole["build-windows"]
	want := map[string][]byte{
		sign.ID + "/public/build/target.tar.gz":     sign.Artifacts["public/build/target.tar.gz"],
		sign.ID + "/public/build/target.tar.gz.asc": sign.Artifacts["public/build/target.tar.gz.asc"],
		win.ID + "/public/build/target.zip":         win.Artifacts["public/build/target.zip"],
		win.ID + "/public/build/target.zip.asc":     win.Artifacts["public/build/target.zip.asc"],
	}
	for rel, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || string(got) != string(data) {
			t.Errorf("%s: %q, %v; want %q", rel, got, err, data)
		}
	}
	if len(m.Artifacts) != 4 {
		t.Fatalf("manifest has %d entries, want 4", len(m.Artifacts))
	}
	var onDisk cot.Manifest
	b, err := os.ReadFile(filepath.Join(dir, cot.ManifestName))
	if err != nil || json.Unmarshal(b, &onDisk) != nil || onDisk.TaskID != g.ByRole["beetmover"].ID || len(onDisk.Artifacts) != 4 {
		t.Fatalf("manifest on disk: %s, %v", b, err)
	}
	for _, e := range onDisk.Artifacts {
		if _, ok := want[e.File]; !ok || e.SHA256 == "" || e.Size == 0 || e.TaskType == "" {
			t.Errorf("manifest entry %+v", e)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".signet-cot-partial")); !os.IsNotExist(err) {
		t.Errorf("partial directory left behind: %v", err)
	}

	// A second run finds every file in place and downloads none.
	before := storageHits(g)
	if res, _, err := fetch(t, g, o, dir); err != nil || !res.Verified {
		t.Fatalf("second fetch: %v", err)
	}
	if after := storageHits(g); after != before+countDocs(res) {
		t.Errorf("second fetch made %d storage requests, want only the %d documents", after-before, countDocs(res))
	}
}

// storageHits counts requests to storage for artifacts other than
// chain-of-trust documents and task graphs.
func storageHits(g *cottest.Graph) int {
	n := 0
	for p, c := range g.Hits {
		if strings.HasPrefix(p, "/storage/") {
			n += c
		}
	}
	return n
}

func countDocs(r *cot.Result) int {
	n := 0
	for _, l := range r.Links[1:] {
		n += 2 // document and signature
		if l.TaskType == "decision" {
			n += 3 // task graph, actions.json, parameters.yml
		}
	}
	return n
}

func TestFetchSelected(t *testing.T) {
	g := cottest.New(cottest.Options{})
	o := serve(t, g)
	dir := t.TempDir()
	win := g.ByRole["build-windows"]
	_, m, err := fetch(t, g, o, dir, "public/build/target.zip", win.ID+":public/build/target.zip.asc")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Artifacts) != 2 {
		t.Fatalf("manifest: %+v", m.Artifacts)
	}
	if _, err := os.Stat(filepath.Join(dir, g.ByRole["signing"].ID)); !os.IsNotExist(err) {
		t.Errorf("unselected artifacts were placed: %v", err)
	}
	_, _, err = fetch(t, g, o, t.TempDir(), "public/nothing.txt")
	if err == nil || !strings.Contains(err.Error(), "not an upstream artifact") {
		t.Errorf("unknown selection: err = %v", err)
	}
}

func TestFetchBadChainPlacesNothing(t *testing.T) {
	g := cottest.New(cottest.Options{})
	win := g.ByRole["build-windows"]
	g.SetServed(win.ID, "public/build/target.zip", &cottest.Served{Data: []byte("trojan")})
	o := serve(t, g)
	dir := t.TempDir()
	res, m, err := fetch(t, g, o, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || m != nil {
		t.Fatalf("verified a bad chain")
	}
	var files []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	// Verified downloads stay for the next run, but no directory is left
	// empty.
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			if ents, _ := os.ReadDir(p); len(ents) == 0 {
				t.Errorf("empty directory %s left behind", p)
			}
		}
		return nil
	})
	for _, f := range files {
		if !strings.Contains(f, ".signet-cot-partial") {
			t.Errorf("%s appeared although the chain did not verify", f)
		}
		if strings.HasSuffix(f, "target.zip") {
			t.Errorf("%s: the bad download was kept", f)
		}
	}
}

// TestFetchResume interrupts a download halfway; the retry asks for the
// rest with a Range request, and a later run resumes a partial file left by
// an earlier one.
func TestFetchResume(t *testing.T) {
	g := cottest.New(cottest.Options{})
	win := g.ByRole["build-windows"]
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	win.Artifacts["public/build/target.zip"] = data
	g.Publish()
	path := "/storage/" + win.ID + "/public/build/target.zip"
	var mu sync.Mutex
	var ranges []string
	cut := true
	inner := g.Handler
	g.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			inner.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		c := cut
		cut = false
		mu.Unlock()
		if c {
			w.Header().Set("Content-Length", "1048576")
			w.Write(data[:300000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		inner.ServeHTTP(w, r)
	})
	o := serve(t, g)
	dir := t.TempDir()
	res, _, err := fetch(t, g, o, dir, "public/build/target.zip")
	if err != nil || !res.Verified {
		t.Fatalf("fetch: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, win.ID, "public/build/target.zip"))
	if string(got) != string(data) {
		t.Fatalf("resumed file differs")
	}
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") || ranges[1] == "bytes=0-" {
		t.Errorf("requests had ranges %q; want none, then the rest", ranges)
	}

	// A partial file from an earlier run is resumed, not started again.
	dir2 := t.TempDir()
	part := filepath.Join(dir2, ".signet-cot-partial", win.ID, "public/build/target.zip")
	os.MkdirAll(filepath.Dir(part), 0o755)
	os.WriteFile(part, data[:123456], 0o644)
	ranges = nil
	if res, _, err := fetch(t, g, o, dir2, "public/build/target.zip"); err != nil || !res.Verified {
		t.Fatalf("fetch: %v", err)
	}
	if len(ranges) != 1 || ranges[0] != "bytes=123456-" {
		t.Errorf("resume asked for %q, want bytes=123456-", ranges)
	}
	got, _ = os.ReadFile(filepath.Join(dir2, win.ID, "public/build/target.zip"))
	if string(got) != string(data) {
		t.Fatalf("resumed file differs")
	}

	// A partial file from an earlier run that is not a prefix of the
	// artifact (no validator told the run it changed) fails its digest
	// once resumed; the download starts again from zero and the good
	// chain verifies.
	dir3 := t.TempDir()
	part = filepath.Join(dir3, ".signet-cot-partial", win.ID, "public/build/target.zip")
	os.MkdirAll(filepath.Dir(part), 0o755)
	os.WriteFile(part, []byte("garbage"), 0o644)
	ranges = nil
	res, _, err = fetch(t, g, o, dir3, "public/build/target.zip")
	if err != nil || !res.Verified {
		t.Fatalf("fetch over a bad partial file: %v\n%s", err, tree(res))
	}
	if len(ranges) != 2 || ranges[0] != "bytes=7-" || ranges[1] != "" {
		t.Errorf("requests had ranges %q; want the resume, then the whole artifact", ranges)
	}
	got, _ = os.ReadFile(filepath.Join(dir3, win.ID, "public/build/target.zip"))
	if string(got) != string(data) {
		t.Fatalf("file after the restart differs")
	}
	if _, err := os.Stat(filepath.Join(dir3, ".signet-cot-partial")); !os.IsNotExist(err) {
		t.Errorf("partial directory left behind: %v", err)
	}

	// A bad artifact still fails after the restart, and the bad bytes go.
	g.SetServed(win.ID, "public/build/target.zip", &cottest.Served{Data: append(bytes.Clone(data[:len(data)-1]), 'X')})
	dir4 := t.TempDir()
	part = filepath.Join(dir4, ".signet-cot-partial", win.ID, "public/build/target.zip")
	os.MkdirAll(filepath.Dir(part), 0o755)
	os.WriteFile(part, data[:1000], 0o644)
	if res, _, err := fetch(t, g, o, dir4, "public/build/target.zip"); err != nil || res.Verified {
		t.Fatalf("fetch of a bad artifact over a good prefix: verified %v, %v", res != nil && res.Verified, err)
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("bad partial file kept: %v", err)
	}
}

func TestFetchRefusesEscapingNames(t *testing.T) {
	g := cottest.New(cottest.Options{})
	win := g.ByRole["build-windows"]
	win.Artifacts["../../escape.txt"] = []byte("x")
	bm := g.ByRole["beetmover"]
	ups := bm.Def["payload"].(map[string]any)["upstreamArtifacts"].([]any)
	ups[1].(map[string]any)["paths"] = []any{"../../escape.txt"}
	g.Publish()
	o := serve(t, g)
	dir := t.TempDir()
	_, _, err := fetch(t, g, o, filepath.Join(dir, "d"))
	if err == nil || !strings.Contains(err.Error(), "cannot be a file name under the directory") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.txt")); !os.IsNotExist(err) {
		t.Fatal("a file escaped the directory")
	}
}
