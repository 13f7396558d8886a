package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/keystore"
)

// maxManifestFiles bounds the files one item's manifest may list, as the
// server does.
const maxManifestFiles = 100_000

// ParseSignRequest reads one sign request strictly — one JSON object, no
// unknown fields, nothing after it — and checks its envelope: the key
// name, the format's spelling, 1 to limits.MaxBatch items, each with a
// printable name, a size, and exactly one of a well-formed digest and
// data. It does not look inside data: the agent parses no artifacts, and
// the server checks each format's content. A bad request is a 4xx
// *localError saying what is wrong, and nothing is forwarded.
func ParseSignRequest(r io.Reader, limits Limits) (*api.SignRequest, error) {
	limits = limits.withDefaults()
	var req api.SignRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, &localError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body exceeds the agent's limit of %d bytes; send fewer items per batch", mbe.Limit)}
		case err == io.EOF:
			return nil, badRequest("empty request body; send a JSON sign request (docs/api.md)")
		}
		return nil, badRequest("request body is not a valid sign request: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("request body has data after the JSON object")
	}
	if err := keystore.ValidName(req.Key); err != nil {
		return nil, badRequest("%v", err)
	}
	if err := checkFormatName(req.Format); err != nil {
		return nil, err
	}
	switch n := len(req.Items); {
	case n == 0:
		return nil, badRequest("no items to sign; send at least one item")
	case n > limits.MaxBatch:
		return nil, &localError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("%d items in one request; the agent's limit is %d (limits.max_batch): split the batch", n, limits.MaxBatch)}
	}
	if len(req.Options.Namespace) > 256 || !utf8.ValidString(req.Options.Namespace) {
		return nil, badRequest("options.namespace is not a short UTF-8 string")
	}
	for i, it := range req.Items {
		if err := checkItem(&it); err != nil {
			return nil, &itemsError{badRequest("item %d: %v", i+1, err).(*localError), []api.ItemError{{Item: i + 1, Error: fmt.Sprintf("signet agent: item %d: %v", i+1, err)}}}
		}
	}
	req.Nonce = "" // accepted for old clients, meaningless since tokens are self-contained
	return &req, nil
}

func badRequest(format string, args ...any) error {
	return &localError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

// checkFormatName checks the spelling of a format name; which formats
// exist is the server's business.
func checkFormatName(f string) error {
	if f == "" || len(f) > 32 {
		return badRequest("format %.40q: name a format (raw, ssh, minisign, dsse, …)", f)
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return badRequest("format %.40q: a format name is lowercase letters, digits and '-'", f)
		}
	}
	return nil
}

func checkItem(it *api.SignItem) error {
	if err := api.CheckArtifactName(it.Name); err != nil {
		return err
	}
	if it.Size < 0 {
		return fmt.Errorf("%q: negative size %d", it.Name, it.Size)
	}
	switch {
	case it.Digest != "" && it.Data != nil:
		return fmt.Errorf("%q: send a digest or data, not both", it.Name)
	case it.Digest == "" && it.Data == nil:
		return fmt.Errorf("%q: nothing to sign; send a digest or data", it.Name)
	case it.Digest != "":
		if _, _, err := api.ParseDigest(it.Digest); err != nil {
			return fmt.Errorf("%q: %v", it.Name, err)
		}
	}
	if len(it.TrustedComment) > 1024 || !utf8.ValidString(it.TrustedComment) {
		return fmt.Errorf("%q: trusted_comment is not a short UTF-8 string", it.Name)
	}
	if it.Manifest != nil {
		if len(it.Manifest) == 0 || len(it.Manifest) > maxManifestFiles {
			return fmt.Errorf("%q: manifest lists %d files; give 1 to %d, or none", it.Name, len(it.Manifest), maxManifestFiles)
		}
		for j, f := range it.Manifest {
			if err := api.CheckPrintable(f.Path); err != nil {
				return fmt.Errorf("%q: manifest file %d: %v", it.Name, j+1, err)
			}
			if f.Size < 0 {
				return fmt.Errorf("%q: manifest file %d: negative size", it.Name, j+1)
			}
			if _, _, err := api.ParseDigest(f.Digest); err != nil {
				return fmt.Errorf("%q: manifest file %d: %v", it.Name, j+1, err)
			}
		}
	}
	return nil
}
