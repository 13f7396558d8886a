package server

import (
	"bytes"
	"errors"
	"testing"

	"github.com/signet-dev/signet/api"
)

// FuzzSignRequest feeds arbitrary bodies to the sign request decoder and
// validator. Whatever they accept must be a request the signing loop can
// rely on; whatever they refuse must be refused as a client error.
func FuzzSignRequest(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzSignRequest.
	f.Add([]byte(`{"key":"release","format":"raw","items":[{"name":"a.tar.gz","digest":"sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}]}`))
	f.Add([]byte(`{"key":"cot","format":"raw","items":[{"name":"a","data":"aGVsbG8="}]}`))
	const maxBatch = 8
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseJSON[api.SignRequest](bytes.NewReader(body))
		if err == nil {
			err = checkSignRequest(req, maxBatch)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status < 400 || ae.status > 499 || ae.message == "" {
				t.Fatalf("refusal %v is not a client error with a message", err)
			}
			return
		}
		if n := len(req.Items); n < 1 || n > maxBatch {
			t.Fatalf("accepted %d items", n)
		}
		for _, it := range req.Items {
			if (it.Digest == "") == (it.Data == nil) {
				t.Fatalf("accepted item %+v without exactly one of digest and data", it)
			}
			if it.Digest != "" {
				if _, _, err := api.ParseDigest(it.Digest); err != nil {
					t.Fatalf("accepted malformed digest %q: %v", it.Digest, err)
				}
			}
			if it.Name == "" || it.Size < 0 {
				t.Fatalf("accepted item %+v", it)
			}
		}
	})
}
