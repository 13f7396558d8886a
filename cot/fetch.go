package cot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// ManifestName is the file Fetch writes last in its directory.
const ManifestName = "chain-of-trust-manifest.json"

// partialDir holds downloads until the chain verifies.
const partialDir = ".signet-cot-partial"

// Manifest lists what Fetch placed in its directory, for the consuming task
// to publish.
type Manifest struct {
	TaskID    string          `json:"taskId"` // the task whose chain was verified
	Artifacts []ManifestEntry `json:"artifacts"`
}

// ManifestEntry is one fetched file.
type ManifestEntry struct {
	Path     string `json:"path"` // artifact name
	File     string `json:"file"` // where it is, relative to the directory
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	TaskID   string `json:"taskId"` // the task that produced it
	TaskType string `json:"taskType"`
}

// Fetch verifies the chain of trust of task taskID and places the upstream
// artifacts it consumes into dir, as dir/TASKID/PATH, with a manifest.
// selected names the artifacts to place, as PATH or TASKID:PATH; empty
// selects all. Every artifact is downloaded and checked either way.
//
// Downloads go to dir/.signet-cot-partial and are renamed into place, after
// fsync, only when the whole chain verified: a bad, partial or unverified
// file never appears under its name. A partial download is kept for the
// next run, which resumes it; a bad one is removed. Files already in place
// with the signed digests are not downloaded again.
//
// A chain that does not verify returns its Result, a nil Manifest and a nil
// error, as Verify does.
func Fetch(ctx context.Context, taskID, dir string, selected []string, o Options) (*Result, *Manifest, error) {
	d, err := newDirStore(dir, selected)
	if err != nil {
		return nil, nil, err
	}
	o.Store = d
	defer func() {
		d.closeAll()
		// Partial downloads stay for the next run; the directories that
		// hold none go.
		removeEmptyDirs(filepath.Join(dir, partialDir))
	}()
	res, err := Verify(ctx, taskID, o)
	if err != nil {
		return nil, nil, err
	}
	if !res.Verified {
		return res, nil, nil
	}
	if err := d.unmatched(); err != nil {
		return res, nil, err
	}
	m, err := d.commit(taskID, res.Artifacts)
	return res, m, err
}

type dirStore struct {
	dir      string
	all      bool
	selected map[string]bool // "PATH" or "TASKID:PATH"
	matched  map[string]bool
	mu       sync.Mutex
	files    map[string]*partialFile // by "TASKID\x00PATH"
}

func newDirStore(dir string, selected []string) (*dirStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &dirStore{dir: dir, all: len(selected) == 0, selected: map[string]bool{}, matched: map[string]bool{}, files: map[string]*partialFile{}}
	for _, s := range selected {
		if id, p, ok := strings.Cut(s, ":"); ok && ValidTaskID(id) {
			if err := checkArtifactName(p); err != nil {
				return nil, err
			}
		} else if err := checkArtifactName(s); err != nil {
			return nil, err
		}
		d.selected[s] = true
	}
	return d, nil
}

func (d *dirStore) wants(taskID, path string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	hit := d.all
	for _, k := range []string{path, taskID + ":" + path} {
		if d.selected[k] {
			d.matched[k] = true
			hit = true
		}
	}
	return hit
}

func (d *dirStore) unmatched() error {
	var miss []string
	for s := range d.selected {
		if !d.matched[s] {
			miss = append(miss, s)
		}
	}
	if len(miss) > 0 {
		slices.Sort(miss)
		return fmt.Errorf("not an upstream artifact of the task (payload.upstreamArtifacts): %s", strings.Join(miss, ", "))
	}
	return nil
}

// localPath turns an artifact of a task into a path under the directory,
// refusing names that would leave it.
func localPath(taskID, path string) (string, error) {
	p := filepath.Join(taskID, filepath.FromSlash(path))
	if !filepath.IsLocal(p) || strings.Contains(path, "\\") || strings.HasPrefix(path, "/") || slices.Contains(strings.Split(path, "/"), "..") {
		return "", fmt.Errorf("artifact name %.80q cannot be a file name under the directory", path)
	}
	return p, nil
}

func (d *dirStore) Open(taskID, path string, want Digests) (Destination, *Artifact, error) {
	if !d.wants(taskID, path) {
		return nil, nil, nil
	}
	rel, err := localPath(taskID, path)
	if err != nil {
		return nil, nil, err
	}
	final := filepath.Join(d.dir, rel)
	if a := d.present(final, want); a != nil {
		a.TaskID, a.Path = taskID, path
		return nil, a, nil
	}
	part := filepath.Join(d.dir, partialDir, rel)
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf := &partialFile{f: f, n: n, part: part, final: final}
	d.mu.Lock()
	d.files[taskID+"\x00"+path] = pf
	d.mu.Unlock()
	return pf, nil, nil
}

// present returns the artifact at final if it is there with the digests
// want.
func (d *dirStore) present(final string, want Digests) *Artifact {
	f, err := os.Open(final)
	if err != nil {
		return nil
	}
	defer f.Close()
	dg, err := newDigester(want, &discard{}, nil)
	if err != nil {
		return nil
	}
	if _, err := io.Copy(dg, f); err != nil {
		return nil
	}
	sha, err := dg.check(want)
	if err != nil {
		return nil
	}
	return &Artifact{SHA256: sha, Size: dg.Offset()}
}

func (d *dirStore) Verified(a Artifact) error {
	d.mu.Lock()
	pf := d.files[a.TaskID+"\x00"+a.Path]
	d.mu.Unlock()
	if pf == nil {
		return nil
	}
	return pf.finish()
}

func (d *dirStore) Failed(taskID, path string) {
	d.mu.Lock()
	pf := d.files[taskID+"\x00"+path]
	delete(d.files, taskID+"\x00"+path)
	d.mu.Unlock()
	if pf != nil {
		pf.f.Close()
		os.Remove(pf.part)
	}
}

// closeAll closes the downloads still open: those that did not finish.
// Closing a finished one again does nothing.
func (d *dirStore) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, pf := range d.files {
		pf.f.Close()
	}
}

// commit renames every verified download into place and writes the
// manifest, last.
func (d *dirStore) commit(taskID string, arts []Artifact) (*Manifest, error) {
	m := &Manifest{TaskID: taskID, Artifacts: []ManifestEntry{}}
	dirs := map[string]bool{}
	for _, a := range arts {
		rel, err := localPath(a.TaskID, a.Path)
		if err != nil {
			return nil, err
		}
		if !d.wants(a.TaskID, a.Path) {
			continue
		}
		d.mu.Lock()
		pf := d.files[a.TaskID+"\x00"+a.Path]
		d.mu.Unlock()
		if pf != nil {
			if err := os.MkdirAll(filepath.Dir(pf.final), 0o755); err != nil {
				return nil, err
			}
			if err := os.Rename(pf.part, pf.final); err != nil {
				return nil, err
			}
			dirs[filepath.Dir(pf.final)] = true
		}
		m.Artifacts = append(m.Artifacts, ManifestEntry{Path: a.Path, File: filepath.ToSlash(rel), SHA256: a.SHA256, Size: a.Size, TaskID: a.TaskID, TaskType: a.TaskType})
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(d.dir, ManifestName), append(b, '\n')); err != nil {
		return nil, err
	}
	removeEmptyDirs(filepath.Join(d.dir, partialDir))
	return m, nil
}

// partialFile is a download in progress, resumable: its Offset is what an
// earlier run already wrote.
type partialFile struct {
	f           *os.File
	n           int64
	part, final string
}

func (p *partialFile) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.n += int64(n)
	return n, err
}

func (p *partialFile) Offset() int64 { return p.n }

func (p *partialFile) Truncate() error {
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	_, err := p.f.Seek(0, io.SeekStart)
	p.n = 0
	return err
}

// Replay feeds the bytes already written to w.
func (p *partialFile) Replay(w io.Writer) error {
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(w, io.NewSectionReader(p.f, 0, p.n))
	if err == nil && n != p.n {
		err = io.ErrUnexpectedEOF
	}
	if _, serr := p.f.Seek(p.n, io.SeekStart); err == nil {
		err = serr
	}
	return err
}

func (p *partialFile) finish() error {
	if err := p.f.Sync(); err != nil {
		p.f.Close()
		return err
	}
	return p.f.Close()
}

func writeFileAtomic(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return syncDir(filepath.Dir(name))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// removeEmptyDirs removes dir and the directories under it that are empty,
// deepest first, leaving any that hold a partial download.
func removeEmptyDirs(dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // fails, harmlessly, when not empty
	}
}
