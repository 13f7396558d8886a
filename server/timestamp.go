package server

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/format/rfc3161"
	"github.com/signet-dev/signet/keystore"
)

// usageTSA is the usage of time-stamp authority keys: they sign RFC 3161
// tokens (format rfc3161) and nothing else, with a certificate whose only
// extended key usage is timeStamping.
const usageTSA = "tsa"

// TimestampOptions configure the RFC 3161 time-stamp authority.
type TimestampOptions struct {
	// Policy is the TSA policy OID every token is issued under; nil is
	// rfc3161.DefaultPolicy, a documentation OID: set your own.
	Policy asn1.ObjectIdentifier
	// Accuracy is stated in every token (how far the server clock may be
	// from UTC); 0 is one second. Negative: none stated.
	Accuracy time.Duration
}

func (o TimestampOptions) withDefaults() TimestampOptions {
	if len(o.Policy) == 0 {
		o.Policy = rfc3161.DefaultPolicy
	}
	if o.Accuracy == 0 {
		o.Accuracy = time.Second
	} else if o.Accuracy < 0 {
		o.Accuracy = 0
	}
	return o
}

// timestampFormat is format/rfc3161: a time-stamp authority's tokens.
// An item's data is a DER TimeStampReq; its signature is the DER
// TimeStampResp granting it. The TSA signs only the TSTInfo it builds
// itself around the request's digest, at the server's time, so its key
// signs nothing a caller chose beyond that digest.
type timestampFormat struct{}

func (timestampFormat) usage() string { return usageTSA }

func (timestampFormat) keyTypes() []keystore.Type {
	return []keystore.Type{keystore.ECDSAP256, keystore.ECDSAP384, keystore.RSA3072, keystore.RSA4096}
}

func (timestampFormat) checkOptions(o *api.SignOptions) error {
	switch {
	case o.RSAPSS:
		return badRequest("format rfc3161 signs RSA keys with PKCS #1 v1.5; drop rsa_pss")
	case o.Namespace != "":
		return badRequest("format rfc3161 takes no namespace; namespaces are for format ssh")
	case o.Armor:
		return badRequest("format rfc3161 takes no armor: its tokens are DER")
	}
	return nil
}

func (timestampFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" || it.SHA256State != nil || it.TrustedComment != "" {
		return nil, badRequest("%q: format rfc3161 takes a DER TimeStampReq as data ('openssl ts -query'), nothing else", it.Name)
	}
	q, err := rfc3161.ParseQuery(it.Data)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	chain, err := sc.chain()
	if err != nil {
		return nil, err
	}
	auth := &rfc3161.Authority{Signer: sc.signer, Chain: chain, Policy: sc.timestamp.Policy, Accuracy: sc.timestamp.Accuracy}
	tok, err := auth.Stamp(q, sc.now)
	var f *rfc3161.Failure
	if errors.As(err, &f) {
		return nil, badRequest("%q: %v", it.Name, err)
	} else if err != nil {
		return nil, err
	}
	details := map[string]string{
		"tsa_serial":  tok.Serial.Text(16),
		"tsa_time":    tok.Time.UTC().Format(time.RFC3339),
		"tsa_policy":  sc.timestamp.Policy.String(),
		"tsa_subject": chain[0].Subject.String(),
	}
	if q.Nonce != nil {
		details["nonce"] = q.Nonce.Text(16)
	}
	if q.CertReq {
		details["cert_req"] = "true"
	}
	return &signed{sig: tok.Reply, digests: []string{api.Digest(q.Hash, q.Digest)}, details: details}, nil
}

// stampRequest signs the TimeStampReq query with key, through the grants
// and the log like any signature: the token is recorded before it is
// returned. name is what grants match; for the RFC 3161 transport, which
// names nothing, it is the digest.
func (s *Server) stampRequest(c *call, key, name string, query []byte) (*api.SignResponse, error) {
	c.action = audit.ActionSign
	return s.signItems(c, &api.SignRequest{Key: key, Format: "rfc3161", Items: []api.SignItem{{Name: name, Data: query}}})
}

// timestampJSON answers POST /v1/timestamp: a token for a digest.
func (s *Server) timestampJSON(c *call) error {
	c.action = audit.ActionSign
	c.format = "rfc3161"
	req, err := decode[api.TimestampRequest](c)
	if err != nil {
		return err
	}
	c.key = &audit.KeyRef{Name: req.Key}
	h, digest, err := api.ParseDigest(req.Digest)
	if err != nil {
		return badRequest("%v", err)
	}
	q := &rfc3161.Query{Hash: h, Digest: digest, CertReq: !req.NoCert}
	if req.Nonce != "" {
		n, ok := new(big.Int).SetString(req.Nonce, 10)
		if !ok || n.Sign() < 0 || n.BitLen() > rfc3161.MaxNonceBits {
			return badRequest("nonce %.40q is not a decimal integer of at most %d bits", req.Nonce, rfc3161.MaxNonceBits)
		}
		q.Nonce = n
	}
	der, err := q.Marshal()
	if err != nil {
		return badRequest("%v", err)
	}
	name := req.Name
	if name == "" {
		name = req.Digest
	}
	resp, err := s.stampRequest(c, req.Key, name, der)
	if err != nil {
		return err
	}
	sig := resp.Signatures[0]
	// Read back with the key's chain, which signed it: the token may
	// carry no certificates (no_cert).
	chain, err := s.certs.Chain(resp.Key)
	if err != nil {
		return err
	}
	st, err := rfc3161.CheckReply(sig.Signature, q, chain)
	if err != nil {
		return fmt.Errorf("the token just issued does not check: %w", err)
	}
	s.writeJSON(c.w, http.StatusOK, api.Timestamp{RequestID: c.id, Key: resp.Key, Receipt: sig.Receipt,
		Token: st.Token, Time: st.Time, Serial: st.Serial.Text(16), Policy: st.Policy.String()})
	return nil
}

// timestampRFC3161 answers POST /v1/timestamp/{key}, the RFC 3161 HTTP
// transport: application/timestamp-query in, application/timestamp-reply
// out. A request the protocol can reject (bad algorithm, bad format,
// another policy) gets a rejection reply, recorded as a refusal; a
// caller without the grant, a locked key or a log that cannot record get
// the API's JSON errors, as everywhere else.
func (s *Server) timestampRFC3161(c *call) error {
	c.action = audit.ActionSign
	c.format = "rfc3161"
	key := c.r.PathValue("key")
	c.key = &audit.KeyRef{Name: key}
	if err := keystore.ValidName(key); err != nil {
		return badRequest("%v", err)
	}
	if mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type")); err != nil || mt != rfc3161.QueryType {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf(
			"send a DER TimeStampReq as Content-Type %s (openssl ts -query; curl --data-binary @req.tsq -H 'Content-Type: %s')", rfc3161.QueryType, rfc3161.QueryType)}
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, rfc3161.MaxQuerySize+1))
	if err != nil {
		return badRequest("reading the request: %v", err)
	}
	q, err := rfc3161.ParseQuery(body)
	var f *rfc3161.Failure
	if errors.As(err, &f) {
		return s.reject(c, f)
	}
	if q.Policy != nil && !q.Policy.Equal(s.timestamp.Policy) {
		return s.reject(c, &rfc3161.Failure{Info: rfc3161.UnacceptedPolicy, Text: fmt.Sprintf(
			"policy %s was requested; this authority issues tokens under policy %s only", q.Policy, s.timestamp.Policy)})
	}
	resp, err := s.stampRequest(c, key, api.Digest(q.Hash, q.Digest), body)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", rfc3161.ReplyType)
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(resp.Signatures[0].Signature)
	return nil
}

// reject records a refused time-stamp request, then answers it with a
// rejection reply.
func (s *Server) reject(c *call, f *rfc3161.Failure) error {
	c.artifact = &audit.Artifact{Name: "time-stamp request"}
	c.details = map[string]string{"failure": f.Info.String()}
	if err := s.recordAct(c, c.entry(audit.Denied, f.Text)); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", rfc3161.ReplyType)
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(rfc3161.Rejection(f))
	return nil
}
