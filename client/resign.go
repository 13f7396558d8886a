package client

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/blake2b"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/incident"
)

// A ResignItem is one artifact of an incident report, as found on disk
// and re-signed.
type ResignItem struct {
	incident.Artifact
	Path      string // the file that matched, "" if none did
	Problem   string // why it was not re-signed; "" if it was
	Signature string // the signature file written (for Authenticode, the file itself)
}

// Resigned reports whether the item was signed again.
func (it *ResignItem) Resigned() bool { return it.Problem == "" && it.Signature != "" }

// resignable are the formats whose artifacts are files that can be signed
// again as they were, with the suffix of their signature files.
var resignable = map[string]string{
	"raw": ".sig", "ssh": ".sig", "minisign": ".minisig", "pgp": ".sig", "pgp-clearsign": ".asc", "cot": ".sig", "authenticode": "",
}

// LocateArtifacts finds each artifact under dir: the regular file at the
// artifact's name (the path the client signed it under) under dir, or
// else one with its base name anywhere under dir, whose digest,
// under the algorithm the log records (for Authenticode, its Authenticode
// digest), is the one recorded. An artifact with no file of its name is
// missing; one whose files all have other contents is mismatched; one of
// a format that does not sign a file as it is (dsse attestations,
// catalogs) cannot be re-signed from dir.
func LocateArtifacts(dir string, arts []incident.Artifact) ([]ResignItem, error) {
	byName := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			byName[d.Name()] = append(byName[d.Name()], p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	items := make([]ResignItem, len(arts))
	for i, a := range arts {
		it := &items[i]
		it.Artifact = a
		if _, ok := resignable[a.Format]; !ok {
			it.Problem = fmt.Sprintf("format %s does not sign a file as it is; make it again ('signet attest', 'signet catalog sign') with the new key", a.Format)
			continue
		}
		// The file at the artifact's path under dir comes first; then
		// files of its base name anywhere under dir (a report from before
		// names were paths, or a tree laid out another way).
		paths := slices.Clone(byName[path.Base(a.Name)])
		if p := filepath.Join(dir, filepath.FromSlash(a.Name)); !slices.Contains(paths, p) {
			if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
				paths = append(paths, p)
			}
		}
		slices.Sort(paths)
		if p := filepath.Join(dir, filepath.FromSlash(a.Name)); slices.Contains(paths, p) {
			paths = append([]string{p}, slices.DeleteFunc(paths, func(q string) bool { return q == p })...)
		}
		if len(paths) == 0 {
			it.Problem = "missing: no file named " + a.Name + " under " + dir
			continue
		}
		var seen []string
		for _, p := range paths {
			got, err := artifactDigest(p, a)
			if err != nil {
				seen = append(seen, fmt.Sprintf("%s: %v", p, err))
				continue
			}
			if got == a.Digest {
				it.Path = p
				break
			}
			seen = append(seen, fmt.Sprintf("%s has %s", p, got))
		}
		if it.Path == "" {
			it.Problem = fmt.Sprintf("mismatch: the log records %s, but %s", a.Digest, strings.Join(seen, "; "))
		}
	}
	return items, nil
}

// artifactDigest computes the digest of the file at p as a's entry
// records it.
func artifactDigest(p string, a incident.Artifact) (string, error) {
	if a.Format == "authenticode" {
		_, d, err := hashPE(p)
		if err != nil {
			return "", err
		}
		return api.Digest(crypto.SHA256, d), nil
	}
	h, _, err := api.ParseDigest(a.Digest)
	if err != nil {
		return "", fmt.Errorf("the log's digest: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var w interface {
		io.Writer
		Sum([]byte) []byte
	}
	if h == crypto.BLAKE2b_512 {
		w, _ = blake2b.New512(nil)
	} else {
		w = h.New()
	}
	if _, err := io.Copy(w, f); err != nil {
		return "", err
	}
	return api.Digest(h, w.Sum(nil)), nil
}

// Resign batch bounds: items per request, and bytes of files per request
// (Ed25519 and clearsigned text upload files whole).
const (
	resignBatch      = 50
	resignBatchBytes = 8 << 20
)

// Resign signs every located item (one without a Problem) again with key,
// in its format and options (an SSH namespace, pgp armor, RSA-PSS), a
// batch at a time, and writes each signature where 'signet sign' would:
// FILE.sig, FILE.asc or FILE.minisig with FILE.sig.receipt beside it, or
// for Authenticode into the file itself. A batch the server refuses is
// retried item by item, so that each item gets its own outcome. progress,
// if not nil, is called after each batch with the items done so far.
func (c *Client) Resign(ctx context.Context, key string, items []ResignItem, progress func(done, total int)) {
	// Each artifact is signed again under the name the log recorded,
	// wherever DIR put it.
	names := map[string]string{}
	for _, it := range items {
		if it.Path != "" {
			names[it.Path] = it.Name
		}
	}
	ctx = WithNames(ctx, names)
	type group struct{ format, option string }
	var order []group
	batches := map[group][]int{}
	todo := 0
	for i, it := range items {
		if it.Problem != "" {
			continue
		}
		g := group{it.Format, resignOption(it.Artifact)}
		if _, ok := batches[g]; !ok {
			order = append(order, g)
		}
		batches[g] = append(batches[g], i)
		todo++
	}
	done := 0
	for _, g := range order {
		idx := batches[g]
		for len(idx) > 0 {
			n, size := 0, int64(0)
			for n < len(idx) && n < resignBatch && (n == 0 || size+items[idx[n]].Size <= resignBatchBytes) {
				size += items[idx[n]].Size
				n++
			}
			batch := idx[:n]
			idx = idx[n:]
			if err := c.resignBatch(ctx, key, items, batch); err != nil {
				for _, i := range batch {
					if len(batch) == 1 {
						items[i].Problem = err.Error()
					} else if err := c.resignBatch(ctx, key, items, []int{i}); err != nil {
						items[i].Problem = err.Error()
					}
				}
			}
			done += n
			if progress != nil {
				progress(done, todo)
			}
		}
	}
}

// resignOption is what, besides the format, a signature must be made
// with again.
func resignOption(a incident.Artifact) string {
	switch a.Format {
	case "ssh":
		return a.Details["namespace"]
	case "pgp":
		return a.Details["armor"]
	case "raw":
		if strings.Contains(a.Details["algorithm"], "pss") {
			return "pss"
		}
	}
	return ""
}

// resignBatch signs items[batch], all of one format and option.
func (c *Client) resignBatch(ctx context.Context, key string, items []ResignItem, batch []int) error {
	first := items[batch[0]].Artifact
	paths := make([]string, len(batch))
	for k, i := range batch {
		paths[k] = items[i].Path
	}
	var sigs []FileSignature
	var err error
	suffix := resignable[first.Format]
	switch first.Format {
	case "raw":
		sigs, err = c.SignFiles(ctx, key, paths, api.SignOptions{RSAPSS: resignOption(first) == "pss"})
	case "ssh":
		sigs, err = c.SignSSH(ctx, key, first.Details["namespace"], paths)
	case "minisign":
		sigs, err = c.SignMinisign(ctx, key, paths, "")
	case "pgp":
		armor := first.Details["armor"] == "true"
		if armor {
			suffix = ".asc"
		}
		sigs, err = c.SignFilesOpenPGP(ctx, key, paths, armor)
	case "pgp-clearsign":
		for _, p := range paths {
			var s *FileSignature
			if s, err = c.ClearsignFile(ctx, key, p); err != nil {
				break
			}
			sigs = append(sigs, *s)
		}
	case "cot":
		for _, p := range paths {
			var sig []byte
			if sig, err = c.SignChainOfTrust(ctx, key, p); err != nil {
				break
			}
			sigs = append(sigs, FileSignature{Path: p, Signature: sig})
		}
	case "authenticode":
		var pes []SignedPE
		if pes, err = c.SignAuthenticode(ctx, key, paths, paths); err == nil {
			for k, i := range batch {
				items[i].Signature = pes[k].Out
			}
		}
		return err
	default:
		return fmt.Errorf("format %s cannot be re-signed", first.Format)
	}
	if err != nil {
		return err
	}
	for k, i := range batch {
		name := items[i].Path + suffix
		if err := WriteSignature(name, sigs[k].Signature, sigs[k].Receipt); err != nil {
			return err
		}
		items[i].Signature = name
	}
	return nil
}

// WriteSignature writes a signature file and, if r is not nil, its audit
// receipt beside it as NAME.receipt.
func WriteSignature(name string, sig []byte, r *audit.Receipt) error {
	if err := os.WriteFile(name, sig, 0o644); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(name+".receipt", append(b, '\n'), 0o644)
}
