package server

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/raw"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// apiError is an error with the HTTP status and code it is reported with.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

// causedError is an API error whose cause goes to the server log only:
// database users, hosts and ports, raw driver errors and keystore paths
// are no business of the client's (any caller, a token-holding job
// included, may see a 503). The client gets the generic message and the
// request id to quote.
type causedError struct {
	ae    *apiError
	cause error
}

func (e *causedError) Error() string { return e.ae.message + " (cause: " + e.cause.Error() + ")" }
func (e *causedError) Unwrap() error { return e.ae }

// hideCause returns ae, answered as it is, with cause for the server log.
func hideCause(ae *apiError, cause error) error { return &causedError{ae, cause} }

// publicMessage is what a client may read of err.
func publicMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.message
	}
	return err.Error()
}

// itemError is the failure of a sign request because of some of its
// items alone; the error response lists them (api.Error.Items), so that a
// client can drop them and send the rest again. err is the first one's.
type itemError struct {
	items []api.ItemError
	err   error
}

func (e *itemError) Error() string { return e.err.Error() }
func (e *itemError) Unwrap() error { return e.err }

// oneItem is the failure of item i (from 1) alone.
func oneItem(i int, err error) error {
	return &itemError{[]api.ItemError{{Item: i, Error: err.Error()}}, err}
}

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func statusOf(err error) int {
	var ae *apiError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &ae):
		return ae.status
	}
	return http.StatusInternalServerError
}

// writeError renders err. Errors that are not apiErrors are internal: their
// text goes to the server log and the client sees only the request id.
func (s *Server) writeError(c *call, err error) {
	ae := &apiError{http.StatusInternalServerError, "internal", "internal error; the server log has details under this request id"}
	var items []api.ItemError
	if errors.As(err, &ae) {
		var ie *itemError
		if errors.As(err, &ie) {
			items = ie.items
		}
	}
	if ae.code == "overloaded" {
		c.w.Header().Set("Retry-After", "1")
	}
	s.writeJSON(c.w, ae.status, api.Error{Message: ae.message, Code: ae.code, RequestID: c.id, Items: items})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	buf, _ := s.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer s.buffers.Put(buf)
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		// Every response type is marshalable; reaching here is a bug.
		s.log.Error("encoding response", "err", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error encoding the response","code":"internal"}` + "\n")
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decode reads exactly one JSON value of type T from the body.
func decode[T any](c *call) (*T, error) {
	return parseJSON[T](c.r.Body)
}

// parseJSON decodes r strictly: one object, no unknown fields, no trailing
// data. It reads r as it decodes, without copying the whole body first.
func parseJSON[T any](r io.Reader) (*T, error) {
	var v T
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(&v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return nil, badRequest("request body has data after the JSON object")
		}
		return &v, nil
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, &apiError{http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("request body exceeds this server's limit of %d bytes; send fewer items per batch", mbe.Limit)}
	case err == io.EOF:
		return nil, badRequest("empty request body; send a JSON object (see docs/api.md)")
	}
	return nil, badRequest("request body is not a valid %s: %v", typeName[T](), err)
}

func (s *Server) listKeys(c *call) error {
	keys, err := s.keys.List()
	if err != nil {
		return err
	}
	out := api.KeyList{Keys: []api.Key{}}
	for _, k := range keys {
		if s.mayUseKey(c, k.Name) {
			out.Keys = append(out.Keys, s.describe(k, false))
		}
	}
	s.writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (s *Server) getKey(c *call) error {
	name := c.r.PathValue("name")
	if err := keystore.ValidName(name); err != nil {
		return badRequest("%v", err)
	}
	c.key = &audit.KeyRef{Name: name}
	if !s.mayUseKey(c, name) {
		return keyDenied(c, name)
	}
	k, err := s.keys.Key(name)
	if err != nil {
		return keyError(name, err)
	}
	s.writeJSON(c.w, http.StatusOK, s.describe(k, true))
	return nil
}

func (s *Server) createKey(c *call) error {
	c.action = audit.ActionKeyCreate
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	req, err := decode[api.CreateKeyRequest](c)
	if err != nil {
		return err
	}
	c.key = &audit.KeyRef{Name: req.Name}
	if err := keystore.ValidName(req.Name); err != nil {
		return badRequest("%v", err)
	}
	t, err := keystore.ParseType(req.Type)
	if err != nil {
		return badRequest("%v", err)
	}
	if req.Usage == "" {
		req.Usage = defaultUsage(t)
	}
	if err := checkUsage(t, req.Usage); err != nil {
		return badRequest("key %q: %v", req.Name, err)
	}
	if slices.Contains(pgpTypes, t) && req.UID == "" {
		return badRequest("key %q: an OpenPGP key needs a user id, such as --uid 'Release Team <release@example.org>'", req.Name)
	}
	rec := s.recordFirst(c)
	k, err := s.keys.Create(keystore.Spec{Name: req.Name, Type: t, Usage: req.Usage, UID: req.UID, PrimarySigns: primarySigningUsages[req.Usage],
		Record: func(k keystore.Key) error {
			c.key.Fingerprint = k.Fingerprint()
			e := c.entry(audit.Allowed, "")
			e.Details = map[string]string{"type": string(k.Type), "usage": k.Usage}
			return rec.write(e)
		}})
	if err != nil {
		if errors.Is(err, keystore.ErrExists) || errors.Is(err, keystore.ErrLocked) || errors.Is(err, keystore.ErrUnavailable) || errors.Is(err, keystore.ErrStoreUnavailable) {
			return rec.failed(keyError(req.Name, err))
		}
		if rec.done || rec.err != nil {
			return rec.failed(err) // storing it failed: internal
		}
		return badRequest("%v", err)
	}
	s.log.Info("key created", "id", c.id, "principal", c.principal.Name, "key", k.Name, "type", k.Type, "usage", k.Usage, "fingerprint", k.Fingerprint())
	s.writeJSON(c.w, http.StatusCreated, s.describeChanged(c, k))
	return nil
}

// defaultUsage is the usage of a key created without one: the only usage
// its type has, or raw; pgp for OpenPGP keys, which may also be created
// for rpm or deb.
func defaultUsage(t keystore.Type) string {
	if slices.Contains(pgpTypes, t) {
		return "pgp"
	}
	var only string
	for _, f := range formats {
		if slices.Contains(f.keyTypes(), t) {
			if only != "" && only != f.usage() {
				return "raw"
			}
			only = f.usage()
		}
	}
	if only == "" {
		return "raw"
	}
	return only
}

func (s *Server) sign(c *call) error {
	c.action = audit.ActionSign
	req, err := decode[api.SignRequest](c)
	if err != nil {
		return err
	}
	resp, err := s.signItems(c, req)
	if err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, resp)
	return nil
}

// signItems authorizes, signs and records the items of req, the body of
// POST /v1/sign and of the endpoints that are signatures in one format
// (the RFC 3161 time-stamp authority).
func (s *Server) signItems(c *call, req *api.SignRequest) (*api.SignResponse, error) {
	c.key, c.format, c.items = &audit.KeyRef{Name: req.Key}, req.Format, len(req.Items)
	if err := checkSignRequest(req, s.limits.MaxBatch); err != nil {
		return nil, err
	}
	if len(req.Items) > 0 {
		c.artifact = &audit.Artifact{Name: req.Items[0].Name}
	}
	// Refusals record the version that would have signed, so that an
	// incident report for a window finds the attempts made in it.
	if k, err := s.keys.Key(req.Key); err == nil {
		c.key.Version = k.Version
	}
	f := formats[req.Format]
	if t := c.principal.Token; t != nil && t.Scope.MaxItems > 0 && len(req.Items) > t.Scope.MaxItems {
		return nil, &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("token %s allows at most %d items per request; this one has %d", t.ID, t.Scope.MaxItems, len(req.Items))}
	}
	// Every item is authorized; when only artifact names are refused, the
	// refusal lists all of them.
	var refused *itemError
	for i, it := range req.Items {
		c.artifact = &audit.Artifact{Name: it.Name}
		r := policy.Request{Action: policy.Sign, Key: req.Key, Format: req.Format, Artifact: it.Name}
		err := s.authorize(c, r)
		if err == nil {
			continue
		}
		if !s.artifactOnly(c, r) {
			return nil, err
		}
		if refused == nil {
			refused = &itemError{err: err}
		}
		refused.items = append(refused.items, api.ItemError{Item: i + 1, Error: err.Error()})
	}
	if refused != nil {
		c.artifact = &audit.Artifact{Name: req.Items[refused.items[0].Item-1].Name}
		if len(refused.items) > 1 {
			c.details = map[string]string{"refused_items": strconv.Itoa(len(refused.items)), "items": strconv.Itoa(len(req.Items))}
		}
		return nil, refused
	}
	// A refusal from here on concerns the whole batch; its entry names the
	// first item and the count.
	c.artifact = &audit.Artifact{Name: req.Items[0].Name}
	if len(req.Items) > 1 {
		c.details = map[string]string{"items": strconv.Itoa(len(req.Items))}
	}
	k, err := s.keys.Key(req.Key)
	if err != nil {
		return nil, keyError(req.Key, err)
	}
	c.key.Fingerprint = k.Fingerprint()
	if k.Usage != f.usage() {
		return nil, wrongUsage(k, req.Format, f)
	}
	if err := f.checkOptions(&req.Options); err != nil {
		return nil, err
	}
	k, v, signer, err := s.activeSigner(req.Key)
	if err != nil {
		return nil, err
	}
	c.key = versionRef(k, v)
	// No signature is made that the log could not prove.
	if err := s.checkAuditReady(); err != nil {
		return nil, err
	}
	// A version made by a scheduled rotation during this request is
	// younger than the request: its signatures are dated no earlier than
	// it (an OpenPGP signature older than its subkey does not verify).
	now := c.start
	if now.Before(v.Created) {
		now = v.Created
	}
	sc := &signContext{key: k, version: v, signer: signer, now: now, opts: &req.Options, limits: &s.limits, chain: s.chainOf(k), timestamp: s.timestamp}
	sc.authorize = func(artifact string) error {
		return s.authorize(c, policy.Request{Action: policy.Sign, Key: req.Key, Format: req.Format, Artifact: artifact})
	}
	resp := api.SignResponse{
		RequestID:      c.id,
		Key:            k.Name,
		KeyFingerprint: c.key.Fingerprint,
		KeyVersion:     v.Number,
		Signatures:     make([]api.Signature, len(req.Items)),
	}
	entries := make([]audit.Entry, len(req.Items))
	for i := range req.Items {
		it := &req.Items[i]
		c.artifact = &audit.Artifact{Name: it.Name, Size: it.Size}
		out, err := f.sign(sc, it)
		if err != nil {
			return nil, signError(i, len(req.Items), k.Name, err)
		}
		sum := sha256.Sum256(out.sig)
		e := c.entry(audit.Allowed, "")
		e.Artifact = &audit.Artifact{Name: it.Name, Size: it.Size, Digests: out.digests, Signature: api.Digest(crypto.SHA256, sum[:])}
		e.Details = out.details
		if it.Manifest != nil {
			m, err := json.Marshal(it.Manifest)
			if err != nil {
				return nil, err
			}
			e.AttachManifest(m)
		}
		entries[i] = e
		resp.Signatures[i] = api.Signature{Name: it.Name, Signature: out.sig}
	}
	receipts, err := s.record(c, entries...)
	if err != nil {
		return nil, err
	}
	for i := range receipts {
		resp.Signatures[i].Receipt = &receipts[i]
	}
	return &resp, nil
}

// signError reports the failure to sign item i of n. Client errors keep
// their status; anything else is internal.
func signError(i, n int, key string, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		if n > 1 {
			ae.message = fmt.Sprintf("item %d: %s", i+1, ae.message)
		}
		return oneItem(i+1, ae)
	}
	if errors.Is(err, keystore.ErrLocked) || errors.Is(err, keystore.ErrUnavailable) {
		return keyError(key, err)
	}
	return fmt.Errorf("signing item %d with key %q: %w", i+1, key, err)
}

// checkSignRequest validates everything that does not depend on the key or
// the format.
func checkSignRequest(req *api.SignRequest, maxBatch int) (err error) {
	item := 0 // the item being checked, for errors about it
	defer func() {
		if err != nil && item > 0 {
			err = oneItem(item, err)
		}
	}()
	if err := keystore.ValidName(req.Key); err != nil {
		return badRequest("%v", err)
	}
	if _, ok := formats[req.Format]; !ok {
		return badRequest("format %.40q is not supported; supported formats: %s", req.Format, formatNames())
	}
	switch n := len(req.Items); {
	case n == 0:
		return badRequest("no items to sign; send at least one item")
	case n > maxBatch:
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("%d items in one request; this server's limit is %d (limits.max_batch): split the batch", n, maxBatch)}
	}
	for i, it := range req.Items {
		item = i + 1
		if err := checkArtifactName(it.Name); err != nil {
			return badRequest("item %d: %v", i+1, err)
		}
		if it.Size < 0 {
			return badRequest("item %d (%q): negative size %d", i+1, it.Name, it.Size)
		}
		if err := checkManifest(it.Manifest); err != nil {
			return badRequest("item %d (%q): manifest: %v", i+1, it.Name, err)
		}
		if it.Package != nil && req.Format != "rpm" && req.Format != "deb" {
			return badRequest("item %d (%q): package identity is for formats rpm and deb, not %s", i+1, it.Name, req.Format)
		}
		given := 0
		for _, set := range []bool{it.Digest != "", it.Data != nil, it.SHA256State != nil} {
			if set {
				given++
			}
		}
		switch {
		case given > 1:
			return badRequest("item %d (%q): send one of digest, data and sha256_state, not several", i+1, it.Name)
		case given == 0:
			return badRequest("item %d (%q): nothing to sign; send a digest (ECDSA, RSA keys), data (Ed25519 keys, clearsigned text) or sha256_state (detached OpenPGP)", i+1, it.Name)
		case it.Digest != "":
			if _, _, err := api.ParseDigest(it.Digest); err != nil {
				return badRequest("item %d (%q): %v", i+1, it.Name, err)
			}
		}
	}
	return nil
}

// maxManifestFiles bounds the files one manifest may list.
const maxManifestFiles = 100_000

// checkManifest checks a content manifest's paths, sizes and digests.
func checkManifest(m []api.ManifestFile) error {
	if m == nil {
		return nil
	}
	if len(m) == 0 || len(m) > maxManifestFiles {
		return fmt.Errorf("lists %d files; give 1 to %d, or none", len(m), maxManifestFiles)
	}
	for i, f := range m {
		if err := api.CheckPrintable(f.Path); err != nil {
			return fmt.Errorf("file %d: %v", i+1, err)
		}
		if f.Size < 0 {
			return fmt.Errorf("file %d (%q): negative size", i+1, f.Path)
		}
		if _, _, err := api.ParseDigest(f.Digest); err != nil {
			return fmt.Errorf("file %d (%q): %v", i+1, f.Path, err)
		}
	}
	return nil
}

// checkArtifactName keeps names printable and bounded, so they are safe to
// log and to match against grants.
func checkArtifactName(name string) error { return api.CheckArtifactName(name) }

// authorize decides r for the caller. A token caller may only sign, only
// within the token's scope, and only while its issuer could still issue
// that token and sign that artifact itself.
func (s *Server) authorize(c *call, r policy.Request) error {
	r.Principal, r.LocalUser = c.principal.Name, c.principal.LocalUser
	if t := c.principal.Token; t != nil {
		if r.Action != policy.Sign {
			return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("token %s may only sign; %s needs a client certificate", t.ID, r.Action)}
		}
		scope := policy.Grant{Keys: t.Scope.Keys, Formats: t.Scope.Formats, Artifacts: t.Scope.Artifacts}
		if !scope.Allows(r) {
			return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf(
				"permission denied: token %s (subject %q) does not cover signing %q with key %q in format %q", t.ID, t.Subject, r.Artifact, r.Key, r.Format)}
		}
		if err := c.set.policy.Authorize(policy.Request{Principal: r.Principal, Action: policy.IssueToken, Key: r.Key, Format: r.Format}); err != nil {
			return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("token %s no longer valid: its issuer lost the right: %v", t.ID, err)}
		}
	}
	if err := c.set.policy.Authorize(r); err != nil {
		return &apiError{http.StatusForbidden, "forbidden", err.Error()}
	}
	return nil
}

// artifactOnly reports whether policy refuses r for its artifact name
// alone, while the caller may use the key in the format: the other items
// of a batch may then still be signed.
func (s *Server) artifactOnly(c *call, r policy.Request) bool {
	if t := c.principal.Token; t != nil {
		return false // a token's scope is checked as a whole
	}
	r.Principal, r.LocalUser = c.principal.Name, c.principal.LocalUser
	var ad *policy.ArtifactDenial
	return errors.As(c.set.policy.Authorize(r), &ad)
}

// getLimits tells clients how to size their batches.
func (s *Server) getLimits(c *call) error {
	s.writeJSON(c.w, http.StatusOK, api.Limits{MaxBatch: s.limits.MaxBatch, MaxBodyBytes: s.limits.MaxBodyBytes, MaxMessageBytes: s.limits.MaxMessageBytes})
	return nil
}

// keyDenied is the refusal of a key the caller may not use: by the
// token's scope when it leaves the key out (its issuer may well have a
// grant), else by the principal's grants.
func keyDenied(c *call, name string) error {
	if t := c.principal.Token; t != nil && !slices.ContainsFunc(t.Scope.Keys, func(p string) bool { ok, _ := path.Match(p, name); return ok }) {
		return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("permission denied: token %s (subject %q) is scoped to keys %q, not %q; ask for a token with --key %s",
			t.ID, t.Subject, t.Scope.Keys, name, name)}
	}
	return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("permission denied: principal %q has no grant for key %q", c.principal.Name, name)}
}

// mayUseKey decides which keys the caller may see.
func (s *Server) mayUseKey(c *call, key string) bool {
	if t := c.principal.Token; t != nil && !slices.ContainsFunc(t.Scope.Keys, func(p string) bool { ok, _ := path.Match(p, key); return ok }) {
		return false
	}
	return c.set.policy.MayUseKey(c.principal.Name, key)
}

// keyError maps keystore errors to API errors.
func keyError(name string, err error) error {
	switch {
	case errors.Is(err, keystore.ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no key named %q; 'signet key list' shows the keys", name)}
	case errors.Is(err, keystore.ErrExists):
		return &apiError{http.StatusConflict, "exists", fmt.Sprintf("a key named %q already exists", name)}
	case errors.Is(err, keystore.ErrLocked):
		return &apiError{http.StatusServiceUnavailable, "locked", "keystore locked: ask a custodian to run 'signet unlock'"}
	case errors.Is(err, keystore.ErrRetired):
		return &apiError{http.StatusConflict, "not_active", fmt.Sprintf("%v", err)}
	case errors.Is(err, keystore.ErrStoreUnavailable):
		// Not err's text, which names the database's host and user.
		return &apiError{http.StatusServiceUnavailable, "keystore_unavailable", fmt.Sprintf("key %q: the keystore database did not answer, so nothing changed; retry, then check 'signet key versions %s'", name, name)}
	case errors.Is(err, keystore.ErrUnavailable):
		// Token errors name the token and the PKCS #11 error; they never
		// carry key material.
		return &apiError{http.StatusServiceUnavailable, "hsm_unavailable", fmt.Sprintf("key %q is in a hardware token that cannot sign now: %v; check the token, then retry", name, err)}
	}
	return err
}

// describe returns the API view of k, with its PEM public key if asked.
func (s *Server) describe(k keystore.Key, withPublic bool) api.Key {
	out := api.Key{Name: k.Name, Type: string(k.Type), Usage: k.Usage, UID: k.UID, Created: k.Created, Fingerprint: k.Fingerprint(),
		Version: k.Version, Versions: describeVersions(k, withPublic)}
	if slices.Contains(pgpTypes, k.Type) {
		if pk, err := openpgpPrimary(k); err == nil {
			out.OpenPGPFingerprint = pk.FingerprintHex()
		}
	}
	if withPublic {
		if der, err := x509.MarshalPKIXPublicKey(k.Public); err == nil {
			out.PublicKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
		if h, err := raw.Hash(k.Public); err == nil && h == 0 || slices.Contains(pgpTypes, k.Type) { // pgp: clearsigned text is uploaded
			out.MaxMessageBytes = s.limits.MaxMessageBytes
		}
		if s.certs != nil {
			_, err := s.certs.Chain(k.Name)
			out.Certificate = err == nil
		}
	}
	return out
}

func typeName[T any]() string {
	switch any(new(T)).(type) {
	case *api.SignRequest:
		return "sign request"
	case *api.CreateKeyRequest:
		return "key creation request"
	case *api.UnlockRequest:
		return "unlock request"
	case *api.CustodyInitRequest:
		return "custody init request"
	case *api.RekeyRequest:
		return "rekey request"
	case *api.RekeyApproval:
		return "rekey approval"
	case *api.EnrollRequest:
		return "enroll request"
	case *api.RevokeRequest:
		return "revoke request"
	case *api.TransitionRequest:
		return "transition request"
	}
	return "request"
}
