package server

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/keycert"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/policy"
)

// CertStore keeps the certificate chains attached to keys: public data,
// beside the keystore. *keycert.Dir implements it.
type CertStore interface {
	// Chain returns key's chain, leaf first, or an error wrapping
	// keycert.ErrNoChain.
	Chain(key string) ([]*x509.Certificate, error)
	// Attach stores chain as key's, replacing any previous one.
	Attach(key string, chain []*x509.Certificate) error
}

// certPurposes are the key usages whose keys get certificates, and what
// their certificates must certify them for.
var certPurposes = map[string]keycert.Purpose{
	"authenticode": keycert.CodeSigning,
	notationUsage:  keycert.CodeSigning,
	usageTSA:       keycert.TimeStamping,
	// A raw key signs any digest, so its certificate serves the tools
	// that sign through the PKCS #11 module (osslsigncode, rpmsign …),
	// which make their own signed structures.
	"raw": keycert.CodeSigning,
}

// certKind names the certificate a key of usage u needs, for messages.
func certKind(u string) string {
	if u == usageTSA {
		return "time-stamping"
	}
	return "code-signing"
}

// chainFunc returns a key's certificate chain, checked against the key.
type chainFunc func() ([]*x509.Certificate, error)

// chainOf returns the chain of k for a sign request: read and checked at
// most once per request, and only if a format asks for it.
func (s *Server) chainOf(k keystore.Key) chainFunc {
	return sync.OnceValues(func() ([]*x509.Certificate, error) {
		if s.certs == nil {
			return nil, errors.New("this server keeps no certificate chains (server.Options.Certs is nil)")
		}
		chain, err := s.certs.Chain(k.Name)
		if errors.Is(err, keycert.ErrNoChain) {
			return nil, &apiError{http.StatusConflict, "no_certificate", fmt.Sprintf(
				"key %q has no %s certificate: run 'signet key cert %s --csr', have your CA issue the certificate, then 'signet key cert %s --import-chain chain.pem'",
				k.Name, certKind(k.Usage), k.Name, k.Name)}
		} else if err != nil {
			return nil, err
		}
		// The file is public data that anyone with access to the data
		// directory could replace: check it belongs to the key, every time.
		if err := keycert.CheckChain(chain, k.Public, certPurposes[k.Usage], time.Now()); err != nil {
			return nil, &apiError{http.StatusConflict, "bad_certificate", fmt.Sprintf(
				"key %q: its certificate chain cannot sign now: %v; import a new one with 'signet key cert %s --import-chain chain.pem'", k.Name, err, k.Name)}
		}
		return chain, nil
	})
}

// certKey starts a certificate endpoint for key name: records what the
// call is about, and returns the key once the caller is an administrator
// and the key one that takes certificates.
func (s *Server) certKey(c *call, operation string) (keystore.Key, error) {
	c.action = audit.ActionKeyCert
	name := c.r.PathValue("name")
	if err := keystore.ValidName(name); err != nil {
		return keystore.Key{}, badRequest("%v", err)
	}
	c.key = &audit.KeyRef{Name: name}
	c.details = map[string]string{"operation": operation}
	if err := s.authorize(c, policy.Request{Action: policy.Admin}); err != nil {
		return keystore.Key{}, err
	}
	k, err := s.keys.Key(name)
	if err != nil {
		return keystore.Key{}, keyError(name, err)
	}
	c.key.Fingerprint = k.Fingerprint()
	if _, ok := certPurposes[k.Usage]; !ok {
		return keystore.Key{}, badRequest("key %q has usage %s; certificates are for keys created with --usage authenticode, notation or raw (code signing) or --usage %s (time stamping)", name, k.Usage, usageTSA)
	}
	if s.certs == nil {
		return keystore.Key{}, &apiError{http.StatusNotImplemented, "not_implemented", "this server keeps no certificate chains"}
	}
	return k, nil
}

// keyCSR answers POST /v1/keys/{name}/csr with a certificate request
// signed by the key. The key signs the request's DER, which the server
// builds from a checked subject, so the request can never be another
// format's signature; it is recorded like any signature.
func (s *Server) keyCSR(c *call) error {
	k, err := s.certKey(c, "csr")
	if err != nil {
		return err
	}
	req, err := decode[api.CSRRequest](c)
	if err != nil {
		return err
	}
	var subject pkix.Name
	if req.Subject == "" {
		cn := k.UID
		if cn == "" {
			cn = k.Name
		}
		subject = pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn}}}
	} else if subject, err = keycert.ParseSubject(req.Subject); err != nil {
		return badRequest("%v", err)
	}
	c.details["subject"] = subject.String()
	signer, err := s.keys.Signer(k.Name)
	if err != nil {
		return keyError(k.Name, err)
	}
	if err := s.checkAuditReady(); err != nil {
		return err
	}
	csr, err := keycert.NewCSR(signer, subject)
	if err != nil {
		return keyError(k.Name, err)
	}
	sum := sha256.Sum256(csr)
	e := c.entry(audit.Allowed, "")
	e.Artifact = &audit.Artifact{Name: k.Name + ".csr", Signature: fmt.Sprintf("sha256:%x", sum)}
	if _, err := s.record(c, e); err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, api.CSR{Key: k.Name, Subject: subject.String(), CSR: string(csr)})
	return nil
}

// attachChain answers PUT /v1/keys/{name}/chain: checks the chain
// against the key, records the act, then stores the chain.
func (s *Server) attachChain(c *call) error {
	k, err := s.certKey(c, "import-chain")
	if err != nil {
		return err
	}
	req, err := decode[api.ChainRequest](c)
	if err != nil {
		return err
	}
	chain, err := keycert.ParseChain([]byte(req.Chain))
	if err != nil {
		return badRequest("key %q: certificate chain: %v", k.Name, err)
	}
	if err := keycert.CheckChain(chain, k.Public, certPurposes[k.Usage], time.Now()); err != nil {
		return badRequest("key %q: %v", k.Name, err)
	}
	leaf := chain[0]
	sum := sha256.Sum256(leaf.Raw)
	for key, v := range map[string]string{"subject": leaf.Subject.String(), "issuer": leaf.Issuer.String(),
		"serial": leaf.SerialNumber.Text(16), "not_after": leaf.NotAfter.UTC().Format(time.RFC3339),
		"certificate": fmt.Sprintf("sha256:%x", sum), "certificates": strconv.Itoa(len(chain))} {
		c.details[key] = v
	}
	// Recorded before it is stored: a chain the log could not record is
	// never attached.
	if err := s.recordAct(c, c.entry(audit.Allowed, "")); err != nil {
		return err
	}
	if err := s.certs.Attach(k.Name, chain); err != nil {
		s.recordAct(c, c.entry(audit.Failed, "storing the chain failed"))
		return err
	}
	s.log.Info("certificate chain attached", "id", c.id, "principal", c.principal.Name, "key", k.Name, "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.Text(16))
	s.writeJSON(c.w, http.StatusOK, describeChain(k.Name, chain))
	return nil
}

// keyChain answers GET /v1/keys/{name}/chain, for anyone who may use the
// key.
func (s *Server) keyChain(c *call) error {
	name := c.r.PathValue("name")
	if err := keystore.ValidName(name); err != nil {
		return badRequest("%v", err)
	}
	c.key = &audit.KeyRef{Name: name}
	if !s.mayUseKey(c, name) {
		return keyDenied(c, name)
	}
	if _, err := s.keys.Key(name); err != nil {
		return keyError(name, err)
	}
	if s.certs == nil {
		return &apiError{http.StatusNotImplemented, "not_implemented", "this server keeps no certificate chains"}
	}
	chain, err := s.certs.Chain(name)
	if errors.Is(err, keycert.ErrNoChain) {
		return &apiError{http.StatusNotFound, "no_certificate", fmt.Sprintf("key %q has no certificate chain; attach one with 'signet key cert %s --import-chain chain.pem'", name, name)}
	} else if err != nil {
		return err
	}
	s.writeJSON(c.w, http.StatusOK, describeChain(name, chain))
	return nil
}

func describeChain(key string, chain []*x509.Certificate) api.KeyChain {
	leaf := chain[0]
	return api.KeyChain{Key: key, Chain: string(keycert.EncodeChain(chain)), Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
		Serial: leaf.SerialNumber.Text(16), NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC()}
}
