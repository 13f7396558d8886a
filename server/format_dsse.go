package server

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/dsse"
	"github.com/signet-dev/signet/keystore"
)

// dsseFormat is format/dsse: in-toto Statement v1 attestations in DSSE
// envelopes. The item's data is the statement, which the server checks
// strictly before signing. Every subject is an artifact the caller must be
// granted, like the item's own name, so that a principal allowed to attest
// *.tar.gz cannot attest anything else by listing it as a subject.
type dsseFormat struct{}

// maxRecordedSubjects bounds the subject list copied into one audit entry
// (which is at most audit.MaxEntrySize as JSON).
const maxRecordedSubjects = 24 << 10

func (dsseFormat) usage() string { return "dsse" }

func (dsseFormat) keyTypes() []keystore.Type { return keystore.Types() }

func (dsseFormat) checkOptions(o *api.SignOptions) error {
	if o.Namespace != "" {
		return badRequest("format dsse takes no namespace; namespaces are for format ssh")
	}
	return nil
}

func (dsseFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" {
		return nil, badRequest("%q: format dsse signs an in-toto statement: send it as data, not a digest", it.Name)
	}
	if it.TrustedComment != "" {
		return nil, badRequest("%q: format dsse takes no trusted comment", it.Name)
	}
	if len(it.Data) > dsse.MaxStatementSize {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf(
			"%q: the statement is %d bytes; the limit is %d: keep large predicates out of the statement and reference them by digest", it.Name, len(it.Data), dsse.MaxStatementSize)}
	}
	st, err := dsse.ParseStatement(it.Data)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	var subjects strings.Builder
	for _, s := range st.Subject {
		if err := sc.authorize(s.Name); err != nil {
			return nil, err
		}
		subjects.WriteString(s.Name + " sha256:" + s.Digest["sha256"] + "\n")
	}
	recorded, _ := json.Marshal(subjects.String())
	if len(recorded) > maxRecordedSubjects {
		return nil, badRequest("%q: the statement's %d subjects take %d bytes in the audit record; the limit is %d: split the attestation", it.Name, len(st.Subject), len(recorded), maxRecordedSubjects)
	}
	opts := dsse.Options{PSS: sc.opts.RSAPSS}
	if _, isRSA := sc.key.Public.(*rsa.PublicKey); sc.opts.RSAPSS && !isRSA {
		return nil, badRequest("key %q (%s): rsa_pss applies only to RSA keys", sc.key.Name, sc.key.Type)
	}
	env, err := dsse.Sign(context.Background(), sc.signer, it.Data, opts)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(it.Data)
	return &signed{
		sig:     env,
		digests: []string{api.Digest(crypto.SHA256, sum[:])},
		details: map[string]string{"predicate_type": st.PredicateType, "subjects": strings.TrimSuffix(subjects.String(), "\n")},
	}, nil
}
