package server

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/catalog"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// catalogFormat is the format name catalog signatures are recorded and
// granted (for tokens) under.
const catalogFormat = "catalog"

// getOpenPGPKey answers GET /v1/keys/{name}/openpgp with the key's
// certificate: its primary key, the subkey of every version and their
// revocations. The certifications are made now, dated by the keystore, so
// they are the same bytes every time for a given key state; they are
// still signatures, so they are recorded.
func (s *Server) getOpenPGPKey(c *call) error {
	c.action = audit.ActionKeyCert
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
	c.key.Fingerprint = k.Fingerprint()
	if !slices.Contains(pgpTypes, k.Type) {
		return badRequest("key %q is %s, not an OpenPGP key; create one with --type pgp-ed25519 or pgp-rsa4096", name, k.Type)
	}
	cert, primary, err := s.openpgpCertificate(k)
	if err != nil {
		return err
	}
	e := c.entry(audit.Allowed, "")
	e.Details = map[string]string{"openpgp_fingerprint": primary.FingerprintHex(), "uid": k.UID, "versions": strconv.Itoa(len(k.Versions))}
	if _, err := s.record(c, e); err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, api.OpenPGPKey{Name: name, Fingerprint: primary.FingerprintHex(), UID: k.UID, Certificate: cert})
	return nil
}

// signCatalog answers POST /v1/catalogs/{name}/sign: check the catalog's
// index and everything it references, then sign it (package catalog).
func (s *Server) signCatalog(c *call) error {
	c.action, c.format, c.items = audit.ActionSign, catalogFormat, 1
	name := c.r.PathValue("name")
	cat := c.set.catalogs[name]
	if cat == nil {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no catalog named %.80q in this server's config", name)}
	}
	spec := cat.Spec()
	c.key = &audit.KeyRef{Name: spec.Key}
	c.artifact = &audit.Artifact{Name: "catalog:" + name}
	if err := s.authorizeCatalog(c, spec); err != nil {
		return err
	}
	req, err := decode[api.CatalogSignRequest](c)
	if err != nil {
		return err
	}
	h, want, err := api.ParseDigest(req.Digest)
	if err != nil || h != crypto.SHA256 {
		return badRequest("digest must be sha256:HEX, the SHA-256 of the index you will publish")
	}
	c.artifact.Digests = []string{req.Digest} // a refusal records what was asked for
	k, err := s.keys.Key(spec.Key)
	if err != nil {
		return keyError(spec.Key, err)
	}
	c.key.Fingerprint = k.Fingerprint()
	if k.Usage != "pgp" || !slices.Contains(pgpTypes, k.Type) {
		return fmt.Errorf("catalog %q: key %q is %s for %s signatures; catalogs sign with a pgp-ed25519 or pgp-rsa4096 key", name, k.Name, k.Type, k.Usage)
	}
	k, v, signer, err := s.activeSigner(spec.Key)
	if err != nil {
		return err
	}
	c.key.Version, c.key.Fingerprint = v.Number, v.Fingerprint()
	ps, err := openpgpSigner(k, v, signer)
	if err != nil {
		return err
	}
	res, err := cat.Check(c.r.Context(), req.Params, want)
	if err != nil {
		return catalogError(err)
	}
	files, err := res.Sign(ps, s.now())
	if err != nil {
		return catalogError(err)
	}
	cert, _, err := s.openpgpCertificate(k)
	if err != nil {
		return err
	}
	var sigs bytes.Buffer
	for _, f := range files {
		sigs.Write(f.Data)
	}
	sigSum := sha256.Sum256(sigs.Bytes())
	e := c.entry(audit.Allowed, "")
	e.Artifact = &audit.Artifact{Name: "catalog:" + name, Size: int64(len(res.Index)), Digests: []string{api.Digest(crypto.SHA256, res.SHA256[:])}, Signature: api.Digest(crypto.SHA256, sigSum[:])}
	e.Details = map[string]string{
		"catalog":             name,
		"catalog_type":        string(spec.Type),
		"path":                res.Path,
		"references":          strconv.Itoa(res.References),
		"references_digest":   api.Digest(crypto.SHA256, res.ReferencesDigest[:]),
		"openpgp_fingerprint": ps.Primary().FingerprintHex(),
		"openpgp_signing_key": ps.Key().FingerprintHex(),
	}
	for _, p := range slices.Sorted(maps.Keys(req.Params)) {
		e.Details["param."+p] = req.Params[p]
	}
	receipts, err := s.record(c, e)
	if err != nil {
		return err
	}
	resp := api.CatalogSignResponse{
		RequestID: c.id, Catalog: name, Path: res.Path, Digest: api.Digest(crypto.SHA256, res.SHA256[:]),
		References: res.References, ReferencesDigest: api.Digest(crypto.SHA256, res.ReferencesDigest[:]),
		Key: k.Name, OpenPGPFingerprint: ps.Primary().FingerprintHex(), Certificate: cert,
	}
	for _, f := range files {
		resp.Files = append(resp.Files, api.CatalogFile{Name: f.Name, Data: f.Data})
	}
	if len(receipts) == 1 {
		resp.Receipt = &receipts[0]
	}
	s.log.Info("catalog signed", "id", c.id, "principal", c.principal.Name, "catalog", name, "path", res.Path, "references", res.References)
	s.writeJSON(c.w, http.StatusOK, resp)
	return nil
}

// authorizeCatalog allows the principals the catalog lists. A token
// caller also needs its issuer listed and a scope covering the catalog's
// key, format "catalog" and artifact "catalog:NAME".
func (s *Server) authorizeCatalog(c *call, spec catalog.Spec) error {
	if !slices.Contains(spec.Principals, c.principal.Name) {
		return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("permission denied: principal %q is not among the principals of catalog %q", c.principal.Name, spec.Name)}
	}
	if t := c.principal.Token; t != nil {
		scope := policy.Grant{Keys: t.Scope.Keys, Formats: t.Scope.Formats, Artifacts: t.Scope.Artifacts}
		if !scope.Allows(policy.Request{Key: spec.Key, Format: catalogFormat, Artifact: "catalog:" + spec.Name}) {
			return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf(
				"permission denied: token %s does not cover key %q, format %q and artifact %q", t.ID, spec.Key, catalogFormat, "catalog:"+spec.Name)}
		}
		if err := c.set.policy.Authorize(policy.Request{Principal: c.principal.Name, Action: policy.IssueToken, Key: spec.Key, Format: catalogFormat}); err != nil {
			return &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("token %s no longer valid: its issuer lost the right: %v", t.ID, err)}
		}
	}
	return nil
}

// catalogError maps the refusals of package catalog to API errors. Each
// names the first offending file and what is wrong with it.
func catalogError(err error) error {
	var (
		pe *catalog.ParamError
		me *catalog.MismatchError
		tl *catalog.TooLargeError
		hl *catalog.HashLimitError
		re *catalog.RefError
		ie *catalog.IndexError
	)
	switch {
	case errors.As(err, &pe):
		return badRequest("%v", err)
	case errors.As(err, &me):
		return &apiError{http.StatusConflict, "mismatch", err.Error()}
	case errors.As(err, &tl), errors.As(err, &hl):
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", err.Error()}
	case errors.As(err, &re), errors.As(err, &ie):
		return &apiError{http.StatusUnprocessableEntity, "catalog_invalid", "refusing to sign: " + err.Error()}
	case errors.Is(err, keystore.ErrLocked):
		return &apiError{http.StatusServiceUnavailable, "locked", "keystore locked: ask a custodian to run 'signet unlock'"}
	}
	return err
}
