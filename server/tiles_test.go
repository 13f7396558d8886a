package server_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
)

// specClient is a tile client written from C2SP tlog-tiles and
// tlog-checkpoint alone, with no Signet code: plain HTTP GETs, the tile
// paths of the spec, and golang.org/x/mod/sumdb's note and tlog
// (TileHashReader checks every tile it reads against the signed tree).
type specClient struct {
	t    *testing.T
	http *http.Client
	base string // up to and including /log/
}

func (c *specClient) get(path string) ([]byte, *http.Response) {
	c.t.Helper()
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return b, resp
}

// specTilePath is the C2SP path of a tile: tlog-tiles drops the height
// that x/mod's paths carry, and calls level -1 (data) "entries".
func specTilePath(t tlog.Tile) string {
	var n string
	for x := t.N; ; x /= 1000 {
		g := fmt.Sprintf("%03d", x%1000)
		if n == "" {
			n = g
		} else {
			n = "x" + g + "/" + n
		}
		if x < 1000 {
			break
		}
	}
	level := strconv.Itoa(t.L)
	if t.L == -1 {
		level = "entries"
	}
	p := "tile/" + level + "/" + n
	if t.W < 1<<t.H {
		p += ".p/" + strconv.Itoa(t.W)
	}
	return p
}

// The tlog.TileReader of the spec client.
func (c *specClient) Height() int { return 8 }
func (c *specClient) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, resp := c.get(specTilePath(t))
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s %.200s", specTilePath(t), resp.Status, b)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			c.t.Errorf("GET %s: Cache-Control %q, want immutable", specTilePath(t), cc)
		}
		out[i] = b
	}
	return out, nil
}
func (c *specClient) SaveTiles([]tlog.Tile, [][]byte) {}

// checkpoint fetches and verifies the checkpoint, returning its tree.
func (c *specClient) checkpoint(vkey string) tlog.Tree {
	c.t.Helper()
	b, resp := c.get("checkpoint")
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET checkpoint: %s %s", resp.Status, b)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		c.t.Fatal(err)
	}
	n, err := note.Open(b, note.VerifierList(v))
	if err != nil {
		c.t.Fatalf("checkpoint: %v\n%s", err, b)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		c.t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err1 := strconv.ParseInt(lines[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err1 != nil || err2 != nil || len(root) != 32 {
		c.t.Fatalf("checkpoint text %q", n.Text)
	}
	tree := tlog.Tree{N: size}
	copy(tree.Hash[:], root)
	return tree
}

// entry fetches entry i from its bundle.
func (c *specClient) entry(tree tlog.Tree, i int64) []byte {
	c.t.Helper()
	t := tlog.Tile{H: 8, L: -1, N: i / 256, W: int(min(256, tree.N-i/256*256))}
	b, resp := c.get(specTilePath(t))
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET %s: %s %.200s", specTilePath(t), resp.Status, b)
	}
	for k := int64(0); len(b) >= 2; k++ {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			break
		}
		if k == i%256 {
			return b[2 : 2+n]
		}
		b = b[2+n:]
	}
	c.t.Fatalf("entry %d not in its bundle", i)
	return nil
}

// TestTileAPI checks that a tile client written from the spec verifies the
// log through GET /log/... — the checkpoint, every tile it needs, the
// tree's root and inclusion proofs of entries from the bundles — on both
// the tile log and a SQLite log, and the access rules.
func TestTileAPI(t *testing.T) {
	for _, tiles := range []bool{true, false} {
		t.Run(map[bool]string{true: "tiles", false: "sqlite"}[tiles], func(t *testing.T) {
			f := newFixtureWith(t, fixtureOptions{tiles: tiles})
			ctx := context.Background()
			// A signature through the API, then entries straight into the
			// log: past one full tile and into a partial one.
			sigs, err := f.clients["builder"].SignFiles(ctx, "release", writeFiles(t, "a.tar.gz"), api.SignOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 600; i += 50 {
				batch := make([]audit.Entry, 50)
				for j := range batch {
					batch[j] = audit.Entry{Time: time.Now(), Action: audit.ActionSign, Decision: audit.Allowed,
						Principal: audit.Principal{Kind: "mtls", Name: "builder"}, Artifact: &audit.Artifact{Name: fmt.Sprintf("x-%d", i+j)}}
				}
				if _, err := f.audit.Append(ctx, batch...); err != nil {
					t.Fatal(err)
				}
			}
			c := &specClient{t: t, http: f.httpClient("admin"), base: f.url.String() + "/log/"}
			tree := c.checkpoint(f.logKey)
			if tree.N != 601 {
				t.Fatalf("checkpoint of %d entries, want 601", tree.N)
			}
			hr := tlog.TileHashReader(tree, c)
			root, err := tlog.TreeHash(tree.N, hr)
			if err != nil || root != tree.Hash {
				t.Fatalf("tree hash from the tiles: %v", err)
			}
			rc := sigs[0].Receipt
			for _, i := range []int64{rc.Index, 0, 255, 256, 511, 600} {
				e := c.entry(tree, i)
				p, err := tlog.ProveRecord(tree.N, i, hr)
				if err != nil {
					t.Fatal(err)
				}
				if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(e)); err != nil {
					t.Errorf("entry %d: %v", i, err)
				}
				if i == rc.Index && string(e) != string(rc.Entry) {
					t.Errorf("entry %d from its bundle differs from the receipt's", i)
				}
			}
			// Not in the tree, or not a canonical path: 404.
			for _, p := range []string{"tile/0/003", "tile/0/002.p/90", "tile/entries/002.p/90", "tile/entries/003.p/1", "tile/1/000.p/3",
				"tile/0/2", "tile/0/000.p/0", "tile/8/0/000", "tile/0/x000/000"} {
				if b, resp := c.get(p); resp.StatusCode != 404 {
					t.Errorf("GET %s: %s (%d bytes), want 404", p, resp.Status, len(b))
				}
			}
			// Not-found tiles are not acts: followers polling for the next
			// tile must not grow the log.
			if after := c.checkpoint(f.logKey); after.N != tree.N {
				t.Errorf("the log grew from %d to %d entries while tiles were not found", tree.N, after.N)
			}
			// A shorter prefix of a tile is served as it was.
			if b, resp := c.get("tile/0/002.p/10"); resp.StatusCode != 200 || len(b) != 320 {
				t.Errorf("GET tile/0/002.p/10: %s, %d bytes", resp.Status, len(b))
			}
			// Entry bundles need an audit grant; hash tiles do not.
			builder := &specClient{t: t, http: f.httpClient("builder"), base: c.base}
			if _, resp := builder.get("tile/entries/000"); resp.StatusCode != 403 {
				t.Errorf("builder reading an entry bundle: %s", resp.Status)
			}
			if _, resp := builder.get("tile/0/000"); resp.StatusCode != 200 {
				t.Errorf("builder reading a hash tile: %s", resp.Status)
			}
			anon := &specClient{t: t, http: f.httpClient(""), base: c.base}
			if _, resp := anon.get("checkpoint"); resp.StatusCode != 401 {
				t.Errorf("anonymous checkpoint without public_tiles: %s", resp.Status)
			}
		})
	}
}

// TestTileAPIPublic checks audit.public_tiles: the checkpoint and hash
// tiles need no client certificate, entry bundles still do.
func TestTileAPIPublic(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{tiles: true, publicLog: true})
	if _, err := f.clients["builder"].SignFiles(context.Background(), "release", writeFiles(t, "a.tar.gz"), api.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	anon := &specClient{t: t, http: f.httpClient(""), base: f.url.String() + "/log/"}
	tree := anon.checkpoint(f.logKey)
	if _, err := tlog.TreeHash(tree.N, tlog.TileHashReader(tree, anon)); err != nil {
		t.Fatalf("anonymous tile client: %v", err)
	}
	b, resp := anon.get(specTilePath(tlog.Tile{H: 8, L: 0, N: 0, W: int(tree.N)}))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public") {
		t.Errorf("public hash tile: %s %q (%d bytes)", resp.Status, resp.Header.Get("Cache-Control"), len(b))
	}
	if _, resp := anon.get(specTilePath(tlog.Tile{H: 8, L: -1, N: 0, W: int(tree.N)})); resp.StatusCode != 401 {
		t.Errorf("anonymous entry bundle: %s, want 401", resp.Status)
	}
}
