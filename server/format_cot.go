package server

import (
	"crypto"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"

	"github.com/signet-dev/signet/api"
	formatcot "github.com/signet-dev/signet/format/cot"
	"github.com/signet-dev/signet/keystore"
)

// cotFormat is format/cot: Taskcluster chain-of-trust signatures, raw
// Ed25519 over the exact bytes of a chain-of-trust.json that the server
// checks is one.
type cotFormat struct{}

func (cotFormat) usage() string { return "cot" }

func (cotFormat) keyTypes() []keystore.Type { return []keystore.Type{keystore.Ed25519} }

func (cotFormat) checkOptions(o *api.SignOptions) error {
	if o.RSAPSS {
		return badRequest("format cot signs with Ed25519 keys; rsa_pss does not apply")
	}
	return nil
}

func (cotFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" {
		return nil, badRequest("%q: format cot signs the document itself: send its bytes as data, not a digest", it.Name)
	}
	limit := min(sc.limits.MaxMessageBytes, formatcot.MaxDocumentBytes)
	if int64(len(it.Data)) > limit {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf(
			"%q is %d bytes; a chain-of-trust document may be at most %d bytes here", it.Name, len(it.Data), limit)}
	}
	if _, err := formatcot.Check(it.Data); err != nil {
		return nil, badRequest("%q is not a chain-of-trust document: %v", it.Name, err)
	}
	sig, info, err := formatcot.Sign(sc.signer, it.Data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(it.Data)
	return &signed{
		sig:     sig,
		digests: []string{api.Digest(crypto.SHA256, sum[:])},
		details: map[string]string{
			"task_id":      info.TaskID,
			"run_id":       strconv.FormatInt(info.RunID, 10),
			"worker_group": info.WorkerGroup,
			"worker_id":    info.WorkerID,
			"artifacts":    strconv.Itoa(info.Artifacts),
		},
	}, nil
}
