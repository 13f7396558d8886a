package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/policy"
)

// The log's C2SP tlog-tiles read API, under /log/: what any tile client,
// monitor or witness follows without Signet code.
//
//	GET /log/checkpoint                   the latest signed checkpoint
//	GET /log/tile/<L>/<N>[.p/<W>]          hash tiles
//	GET /log/tile/entries/<N>[.p/<W>]      entry bundles
//
// Tiles never change once served (a partial tile is a prefix of its full
// tile, and the prefix is what the tree's size fixed), so they carry
// immutable caching headers; the checkpoint moves, so caches revalidate
// it. The checkpoint and hash tiles reveal nothing but hashes: any
// authenticated principal may read them, and anyone at all when the
// server is configured so (audit.public_tiles). Entry bundles name
// artifacts and principals: they need an audit grant, as the entries of
// /v1/audit/entries do.

func (s *Server) tileRoutes(mux *http.ServeMux) {
	authed := s.api(s.logResource)
	public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{w: w, r: r, id: newRequestID(), start: s.now(), set: s.settings.Load()}
		if err := s.logResource(c); err != nil {
			s.writeError(c, err)
		}
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.publicLog && !isEntryBundle(r.URL.Path) {
			public.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	})
	mux.Handle("GET /log/checkpoint", h)
	mux.Handle("GET /log/tile/", h)
}

func isEntryBundle(p string) bool {
	const prefix = "/log/tile/entries/"
	return len(p) >= len(prefix) && p[:len(prefix)] == prefix
}

// logResource serves the checkpoint or a tile.
func (s *Server) logResource(c *call) error {
	store := s.audit.Store()
	signed, size, err := store.Head(c.r.Context())
	if err != nil {
		return err
	}
	if c.r.URL.Path == "/log/checkpoint" {
		if signed == "" {
			return &apiError{http.StatusNotFound, "no_checkpoint", "the audit log has no signed checkpoint yet: its key is locked or not created"}
		}
		h := c.w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		c.w.Write([]byte(signed))
		return nil
	}
	t, err := audit.ParseTilePath(c.r.URL.Path[len("/log/"):])
	if err != nil {
		c.recorded = true // a wrong path is not an act
		return &apiError{http.StatusNotFound, "not_found", err.Error() + "; see C2SP tlog-tiles"}
	}
	if t.Entries {
		if err := s.authorize(c, policy.Request{Action: policy.Audit}); err != nil {
			return err
		}
	}
	// Tiles are proven against a checkpoint: serve only what the signed
	// head covers (entries recorded while the key was locked wait).
	if signed != "" {
		if cp, err := audit.ParseUnverified(signed); err == nil {
			size = cp.Size
		}
	} else {
		size = 0
	}
	b, err := audit.ReadTile(c.r.Context(), store, t, size)
	if errors.Is(err, audit.ErrNotFound) {
		// Nor is asking for a tile not made yet, as followers do: were
		// it recorded, each poll would grow the log it polls.
		c.recorded = true
		return &apiError{http.StatusNotFound, "not_found", err.Error()}
	}
	if err != nil {
		return err
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if s.publicLog && !t.Entries {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
	}
	c.w.Write(b)
	return nil
}
