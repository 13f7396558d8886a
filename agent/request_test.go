package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseSignRequest(f *testing.F) {
	d := "sha256:" + strings.Repeat("0f", 32)
	for _, s := range []string{
		`{"key":"release","format":"raw","items":[{"name":"a.tar.gz","digest":"` + d + `"}]}`,
		`{"key":"ed","format":"raw","items":[{"name":"a","size":3,"data":"YWJj"}]}`,
		`{"key":"ed","format":"raw","items":[{"name":"empty","data":""}]}`,
		`{"key":"gitkey","format":"ssh","options":{"namespace":"git"},"items":[{"name":"git-object","digest":"sha512:` + strings.Repeat("00", 64) + `"}]}`,
		`{"key":"mini","format":"minisign","items":[{"name":"f","digest":"blake2b512:` + strings.Repeat("11", 64) + `","trusted_comment":"timestamp:1\tfile:f\thashed"}]}`,
		`{"key":"release","format":"raw","items":[{"name":"a","digest":"` + d + `","manifest":[{"path":"usr/bin/a","size":1,"digest":"` + d + `"}]}]}`,
		`{"nonce":"x","key":"release","format":"raw","items":[{"name":"a","digest":"` + d + `"}]}`,
		`{"key":"release","format":"raw","items":[]}`,
		`{"key":"release","format":"raw","items":[{"name":"a","digest":"` + d + `","data":"AA=="}]}`,
		`{"key":"release","format":"raw","items":[{"name":"nightly/../x.tar.gz","digest":"` + d + `"}]}`,
		`{"key":"../x","format":"raw","items":[{"name":"a","digest":"` + d + `"}]}`,
		`{"key":"release","format":"RAW","items":[{"name":"a\u0000","digest":"` + d + `"}]}`,
		`{"key":"release","format":"raw","items":[{"name":"a","digest":"` + d + `"}]}{}`,
		`[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	limits := Limits{MaxBatch: 4, MaxBodyBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseSignRequest(bytes.NewReader(b), limits)
		if err != nil {
			var le *localError
			if !errors.As(err, &le) || le.status < 400 || le.status >= 500 || le.message == "" {
				t.Fatalf("error %v is not a 4xx refusal", err)
			}
			return
		}
		if req.Nonce != "" || len(req.Items) == 0 || len(req.Items) > limits.MaxBatch {
			t.Fatalf("accepted %+v", req)
		}
		for _, it := range req.Items {
			if (it.Digest == "") == (it.Data == nil) || it.Name == "" {
				t.Fatalf("accepted item %+v", it)
			}
		}
		// What is forwarded is what was checked: it parses again to the
		// same request.
		out, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseSignRequest(bytes.NewReader(out), limits)
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("re-encoded request %s: %+v, %v", out, again, err)
		}
	})
}
