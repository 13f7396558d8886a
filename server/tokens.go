package server

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/authn"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
	"github.com/signet-dev/signet/token"
)

func (s *Server) issueToken(c *call) error {
	c.action = audit.ActionTokenIssue
	if c.principal.Token != nil {
		return &apiError{http.StatusForbidden, "forbidden", "a token cannot issue tokens; the orchestrator must use its client certificate"}
	}
	if c.set.tokens.Verifier == nil || c.set.tokens.SigningKey == "" {
		return &apiError{http.StatusNotFound, "not_found", "this server issues no tokens: its config has no tokens.signing_key"}
	}
	req, err := decode[api.TokenRequest](c)
	if err != nil {
		return err
	}
	claims, err := s.tokenClaims(c, req, time.Now())
	if err != nil {
		return err
	}
	signer, err := s.tokenSigner(c)
	if err != nil {
		return err
	}
	tok, err := token.Sign(signer, c.set.tokens.SigningKey, *claims)
	if err != nil {
		return fmt.Errorf("signing token: %w", err)
	}
	e := c.entry(audit.Allowed, "")
	e.Token = &audit.TokenRef{ID: claims.ID, Subject: claims.Subject, Expiry: claims.Expiry, Keys: claims.Scope.Keys,
		Formats: claims.Scope.Formats, Artifacts: claims.Scope.Artifacts, Bound: claims.Confirm != nil}
	if err := s.recordAct(c, e); err != nil {
		return err
	}
	s.log.Info("token issued", "id", c.id, "principal", c.principal.Name, "token", claims.ID, "subject", claims.Subject,
		"keys", claims.Scope.Keys, "formats", claims.Scope.Formats, "artifacts", claims.Scope.Artifacts,
		"expires", time.Unix(claims.Expiry, 0).UTC(), "bound", claims.Confirm != nil)
	s.writeJSON(c.w, http.StatusCreated, api.TokenResponse{Token: tok, Claims: *claims})
	return nil
}

// tokenClaims checks req and returns the claims of the token it asks for.
func (s *Server) tokenClaims(c *call, req *api.TokenRequest, now time.Time) (*token.Claims, error) {
	if err := api.CheckPrintable(req.Subject); err != nil || len(req.Subject) > 256 {
		return nil, badRequest("subject %.80q: name the job in 1 to 256 printable characters", req.Subject)
	}
	ttl, err := time.ParseDuration(req.TTL)
	switch {
	case err != nil:
		return nil, badRequest("ttl %.40q is not a duration such as \"2h\" or \"30m\"", req.TTL)
	case ttl <= 0:
		return nil, badRequest("ttl %s: must be positive", ttl)
	case ttl > c.set.tokens.MaxTTL:
		return nil, badRequest("ttl %s is longer than this server allows (%s, tokens.max_ttl)", ttl, c.set.tokens.MaxTTL)
	}
	if len(req.Keys) == 0 || len(req.Formats) == 0 {
		return nil, badRequest("a token needs at least one key and one format")
	}
	artifacts := req.Artifacts
	if len(artifacts) == 0 {
		artifacts = []string{"*"}
	}
	for _, k := range req.Keys {
		if err := keystore.ValidName(k); err != nil {
			return nil, badRequest("token keys are literal key names: %v", err)
		}
		for _, f := range req.Formats {
			if err := s.authorize(c, policy.Request{Action: policy.IssueToken, Key: k, Format: f}); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range req.Formats {
		if _, ok := formats[f]; !ok && f != catalogFormat {
			return nil, badRequest("format %.40q is not supported; supported formats: %s, and catalog", f, formatNames())
		}
	}
	for _, a := range artifacts {
		if err := policy.CheckArtifactPattern(a); err != nil {
			return nil, badRequest("%v", err)
		}
	}
	if req.MaxItems < 0 {
		return nil, badRequest("max_items %d: must not be negative", req.MaxItems)
	}
	claims := &token.Claims{
		Issuer:    c.principal.Name,
		Subject:   req.Subject,
		Audience:  c.set.tokens.Audience,
		ID:        token.NewID(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    now.Add(ttl).Unix(),
		Scope:     token.Scope{Keys: req.Keys, Formats: req.Formats, Artifacts: artifacts, MaxItems: req.MaxItems},
	}
	if req.BindCert != "" {
		b, err := authn.CertBinding(req.BindCert)
		if err != nil {
			return nil, badRequest("bind_cert: %v", err)
		}
		claims.Confirm = &token.Confirmation{CertSHA256: b}
	}
	return claims, nil
}

func (s *Server) verifyToken(c *call) error {
	if c.set.tokens.Verifier == nil {
		return &apiError{http.StatusNotFound, "not_found", "this server accepts no tokens: its config has no tokens section"}
	}
	req, err := decode[api.TokenVerifyRequest](c)
	if err != nil {
		return err
	}
	claims, err := c.set.tokens.Verifier.Verify(req.Token, time.Now())
	resp := api.TokenVerifyResponse{Valid: err == nil, Claims: claims}
	if err != nil {
		resp.Error, resp.Code = err.Error(), authCode(err)
	}
	s.writeJSON(c.w, http.StatusOK, resp)
	return nil
}

func (s *Server) signDenyList(c *call) error {
	c.action = audit.ActionDenyList
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return err
	}
	if c.set.tokens.Verifier == nil || c.set.tokens.SigningKey == "" {
		return &apiError{http.StatusNotFound, "not_found", "this server signs no deny lists: its config has no tokens.signing_key"}
	}
	req, err := decode[api.DenyListRequest](c)
	if err != nil {
		return err
	}
	if len(req.IDs)+len(req.Subjects) == 0 {
		return badRequest("an empty deny list revokes nothing; name token ids or subjects")
	}
	signer, err := s.tokenSigner(c)
	if err != nil {
		return err
	}
	list, err := token.SignDenyList(signer, c.set.tokens.SigningKey, token.DenyList{
		Issuer: c.principal.Name, IssuedAt: time.Now().Unix(), IDs: req.IDs, Subjects: req.Subjects,
	})
	if err != nil {
		return fmt.Errorf("signing deny list: %w", err)
	}
	e := c.entry(audit.Allowed, "")
	e.Details = map[string]string{"ids": strings.Join(req.IDs, " "), "subjects": strings.Join(req.Subjects, " ")}
	if err := s.recordAct(c, e); err != nil {
		return err
	}
	s.log.Info("deny list signed", "id", c.id, "principal", c.principal.Name, "ids", req.IDs, "subjects", req.Subjects)
	s.writeJSON(c.w, http.StatusOK, api.DenyListResponse{DenyList: list})
	return nil
}

// tokenSigner returns the key this replica signs tokens and deny lists with.
func (s *Server) tokenSigner(c *call) (crypto.Signer, error) {
	if k, err := s.keys.Key(c.set.tokens.SigningKey); err == nil && k.Usage != usageToken {
		return nil, &apiError{http.StatusInternalServerError, "misconfigured", fmt.Sprintf(
			"token-signing key %q has usage %q, not %q; refusing to sign tokens with it", k.Name, k.Usage, usageToken)}
	}
	signer, err := s.keys.Signer(c.set.tokens.SigningKey)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf(
			"this replica's keystore has no token-signing key %q (tokens.signing_key); ask a replica that holds it", c.set.tokens.SigningKey)}
	}
	if err != nil {
		return nil, keyError(c.set.tokens.SigningKey, err)
	}
	return signer, nil
}

// authCode is the API error code for an authentication failure.
func authCode(err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return "token_expired"
	case errors.Is(err, token.ErrRevoked):
		return "token_revoked"
	case errors.Is(err, token.ErrMalformed), errors.Is(err, token.ErrEncoding), errors.Is(err, token.ErrType),
		errors.Is(err, token.ErrAlgorithm), errors.Is(err, token.ErrUnknownKey), errors.Is(err, token.ErrSignature),
		errors.Is(err, token.ErrNotYetValid), errors.Is(err, token.ErrAudience):
		return "token_invalid"
	}
	return "unauthenticated"
}
