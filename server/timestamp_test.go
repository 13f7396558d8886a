package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/format/rfc3161"
	"github.com/signet-dev/signet/internal/devpki"
	"github.com/signet-dev/signet/keystore"
)

// newTSAFixture is the Authenticode fixture plus a time-stamp authority
// key "tsa" (ECDSA P-256, usage tsa) certified for time stamping by the
// fixture's CA, and "tsa-nocert", which has no certificate.
func newTSAFixture(t *testing.T) (f *fixture, caFile string) {
	t.Helper()
	f, caFile = newAuthenticodeFixture(t)
	for _, k := range []keystore.Spec{
		{Name: "tsa", Type: keystore.ECDSAP256, Usage: "tsa"},
		{Name: "tsa-nocert", Type: keystore.ECDSAP384, Usage: "tsa"},
	} {
		if _, err := f.keys.Create(k); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	csr, err := f.clients["admin"].KeyCSR(ctx, "tsa", "CN=Signet TSA,O=Example")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(csr.CSR))
	leaf, err := f.ca.IssueTimeStamping(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), devpki.CertPEM(f.ca.TLSCertificate())...)
	if _, err := f.clients["admin"].AttachChain(ctx, "tsa", chain); err != nil {
		t.Fatal(err)
	}
	return f, caFile
}

func runOpenSSL(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (scripts/test installs it)")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}

// postQuery sends a DER request to the RFC 3161 endpoint of key as
// principal and returns the status, content type and body.
func (f *fixture) postQuery(t *testing.T, principal, key, contentType string, der []byte) (int, string, []byte) {
	t.Helper()
	resp, err := f.httpClient(principal).Post(f.url.JoinPath("/v1/timestamp", key).String(), contentType, bytes.NewReader(der))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestTimestampRFC3161 has openssl make time-stamp requests, Signet's RFC
// 3161 endpoint answer them, openssl ts -verify accept the tokens, and the
// audit log record each one (and each refusal) with what the token holds.
func TestTimestampRFC3161(t *testing.T) {
	f, caFile := newTSAFixture(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "artifact")
	os.WriteFile(data, []byte("dated content\n"), 0o644)
	for _, hash := range []string{"-sha256", "-sha384", "-sha512"} {
		for _, certReq := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s certReq=%v", hash, certReq), func(t *testing.T) {
				query := filepath.Join(dir, "q.tsq")
				args := []string{"ts", "-query", "-data", data, hash, "-out", query}
				if certReq {
					args = append(args, "-cert")
				}
				if out, err := runOpenSSL(t, args...); err != nil {
					t.Fatalf("openssl ts -query: %v\n%s", err, out)
				}
				der, _ := os.ReadFile(query)
				status, ct, reply := f.postQuery(t, "admin", "tsa", rfc3161.QueryType, der)
				if status != 200 || ct != rfc3161.ReplyType {
					t.Fatalf("status %d, %s: %s", status, ct, reply)
				}
				replyFile := filepath.Join(dir, "r.tsr")
				os.WriteFile(replyFile, reply, 0o644)
				verify := []string{"ts", "-verify", "-queryfile", query, "-in", replyFile, "-CAfile", caFile}
				if !certReq {
					chain, err := f.clients["admin"].KeyChain(context.Background(), "tsa")
					if err != nil {
						t.Fatal(err)
					}
					tsaPEM := filepath.Join(dir, "tsa.pem")
					os.WriteFile(tsaPEM, []byte(chain.Chain), 0o644)
					verify = append(verify, "-untrusted", tsaPEM)
				}
				if out, err := runOpenSSL(t, verify...); err != nil || !strings.Contains(out, "Verification: OK") {
					t.Fatalf("openssl ts -verify: %v\n%s", err, out)
				}
				text, _ := runOpenSSL(t, "ts", "-reply", "-in", replyFile, "-text")
				if !strings.Contains(text, "Policy OID: 1.3.6.1.4.1.32473.3161.1") || !strings.Contains(text, "Accuracy: 0x01 seconds") {
					t.Errorf("token text:\n%s", text)
				}
				e := f.lastEntry(t)
				sum := sha256.Sum256(reply)
				if e.Action != audit.ActionSign || e.Decision != audit.Allowed || e.Format != "rfc3161" || e.Key.Name != "tsa" ||
					e.Artifact.Signature != "sha256:"+hex.EncodeToString(sum[:]) || e.Details["tsa_serial"] == "" ||
					tokenSerial(text) != strings.ToUpper(e.Details["tsa_serial"]) || e.Details["nonce"] == "" ||
					(e.Details["cert_req"] == "true") != certReq || !strings.HasPrefix(e.Artifact.Name, strings.TrimPrefix(hash, "-")+":") {
					t.Errorf("audit entry %+v %+v\n%s", e, e.Artifact, text)
				}
			})
		}
	}

	// Refusals: in the protocol when the request is at fault, in JSON when
	// the caller or the key is; each recorded.
	sha1q := filepath.Join(dir, "sha1.tsq")
	if out, err := runOpenSSL(t, "ts", "-query", "-data", data, "-sha1", "-out", sha1q); err != nil {
		t.Fatal(err, out)
	}
	sha1der, _ := os.ReadFile(sha1q)
	status, ct, reply := f.postQuery(t, "admin", "tsa", rfc3161.QueryType, sha1der)
	rej := filepath.Join(dir, "rej.tsr")
	os.WriteFile(rej, reply, 0o644)
	if text, _ := runOpenSSL(t, "ts", "-reply", "-in", rej, "-text"); status != 200 || ct != rfc3161.ReplyType ||
		!strings.Contains(text, "Status: Rejected") || !strings.Contains(text, "SHA-1 is not accepted") || !strings.Contains(text, "unrecognized or unsupported algorithm") {
		t.Errorf("SHA-1 request: %d %s\n%s", status, ct, text)
	}
	if e := f.lastEntry(t); e.Decision != audit.Denied || e.Format != "rfc3161" || e.Details["failure"] != "badAlg" {
		t.Errorf("refusal entry %+v", e)
	}
	policyQ := filepath.Join(dir, "policy.tsq")
	runOpenSSL(t, "ts", "-query", "-data", data, "-sha256", "-tspolicy", "1.2.3.4", "-out", policyQ)
	pder, _ := os.ReadFile(policyQ)
	_, _, reply = f.postQuery(t, "admin", "tsa", rfc3161.QueryType, pder)
	if _, err := rfc3161.CheckReply(reply, &rfc3161.Query{}, nil); err == nil || !strings.Contains(err.Error(), "policy 1.2.3.4") {
		t.Errorf("another policy: %v", err)
	}
	good, _ := os.ReadFile(filepath.Join(dir, "q.tsq"))
	for _, tc := range []struct {
		who, key, ct string
		status       int
		code         string
	}{
		{"builder", "tsa", rfc3161.QueryType, 403, "forbidden"},
		{"admin", "tsa-nocert", rfc3161.QueryType, 409, "no_certificate"},
		{"admin", "release", rfc3161.QueryType, 400, "wrong_usage"},
		{"admin", "tsa", "application/octet-stream", 415, "unsupported_media_type"},
		{"", "tsa", rfc3161.QueryType, 401, ""},
	} {
		status, _, body := f.postQuery(t, tc.who, tc.key, tc.ct, good)
		if status != tc.status || !strings.Contains(string(body), tc.code) {
			t.Errorf("%s with key %s (%s): %d %s", tc.who, tc.key, tc.ct, status, body)
		}
		if tc.who == "builder" {
			if e := f.lastEntry(t); e.Decision != audit.Denied || e.Principal.Name != "builder" || e.Format != "rfc3161" {
				t.Errorf("refusal entry %+v", e)
			}
		}
	}
}

// tokenSerial returns the serial number openssl ts -reply -text shows,
// hex without leading zeros.
func tokenSerial(text string) string {
	m := regexp.MustCompile(`Serial number: 0x([0-9A-F]+)`).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return strings.TrimLeft(m[1], "0")
}

// TestTimestampJSON covers POST /v1/timestamp: a token for a digest,
// which openssl verifies against the digest, with its receipt.
func TestTimestampJSON(t *testing.T) {
	f, caFile := newTSAFixture(t)
	ctx := context.Background()
	sum := sha256.Sum256([]byte("release.tar.gz contents"))
	digest := api.Digest(0, nil)[:0] + "sha256:" + hex.EncodeToString(sum[:])
	ts, err := f.clients["admin"].Timestamp(ctx, &api.TimestampRequest{Key: "tsa", Digest: digest, Name: "release.tar.gz", Nonce: "12345678901234567890"})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Receipt == nil || ts.Policy != "1.3.6.1.4.1.32473.3161.1" || time.Since(ts.Time) > time.Minute || ts.Serial == "" {
		t.Errorf("timestamp %+v", ts)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token.der")
	os.WriteFile(tok, ts.Token, 0o644)
	if out, err := runOpenSSL(t, "ts", "-verify", "-digest", hex.EncodeToString(sum[:]), "-in", tok, "-token_in", "-CAfile", caFile); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify -digest: %v\n%s", err, out)
	}
	text, _ := runOpenSSL(t, "ts", "-reply", "-in", tok, "-token_in", "-text")
	if !strings.Contains(text, "Nonce: 0xAB54A98CEB1F0AD2") { // 12345678901234567890
		t.Errorf("nonce not in the token:\n%s", text)
	}
	e := f.lastEntry(t)
	if e.Artifact.Name != "release.tar.gz" || e.Artifact.Digests[0] != digest || e.Details["tsa_serial"] != ts.Serial || e.Details["tsa_time"] != ts.Time.UTC().Format(time.RFC3339) {
		t.Errorf("audit entry %+v %+v", e, e.Artifact)
	}
	if re, _, err := audit.VerifyReceipt(ts.Receipt, f.logKey); err != nil || re.Details["tsa_serial"] != ts.Serial {
		t.Errorf("receipt: %v", err)
	}
	for _, tc := range []struct {
		req  api.TimestampRequest
		code string
		msg  string
	}{
		{api.TimestampRequest{Key: "tsa", Digest: "sha1:" + strings.Repeat("00", 20)}, "bad_request", ""},
		{api.TimestampRequest{Key: "tsa", Digest: digest, Nonce: "-1"}, "bad_request", "nonce"},
		{api.TimestampRequest{Key: "win-p256", Digest: digest}, "wrong_usage", "--usage tsa"},
	} {
		_, err := f.clients["admin"].Timestamp(ctx, &tc.req)
		wantAPIError(t, err, tc.code, tc.msg)
	}
	_, err = f.clients["builder"].Timestamp(ctx, &api.TimestampRequest{Key: "tsa", Digest: digest})
	wantAPIError(t, err, "forbidden", "")
}

// TestAuthenticodeTimestamped signs PE files with an RFC 3161
// countersignature from Signet's own TSA, and has osslsigncode verify them
// with the TSA's CA, now and after the code-signing certificate has
// expired, when a signature without a timestamp no longer verifies.
func TestAuthenticodeTimestamped(t *testing.T) {
	f, caFile := newTSAFixture(t)
	ctx := context.Background()
	f.certify(t, f.ca, "win-p256", "CN=Example Release")
	dir := t.TempDir()
	stamped, plain := writePE(t, dir, "stamped.exe", false), writePE(t, dir, "plain.exe", true)
	tsaURL := f.url.JoinPath("/v1/timestamp/tsa").String()
	signed, err := f.clients["admin"].SignAuthenticodeWith(ctx, "win-p256", []string{stamped}, []string{stamped}, client.AuthenticodeOptions{Timestamp: tsaURL})
	if err != nil {
		t.Fatal(err)
	}
	if signed[0].Timestamp == nil || signed[0].Timestamp.Certificate.Subject.CommonName != "Signet TSA" {
		t.Fatalf("signed %+v", signed[0])
	}
	e := f.lastEntry(t)
	if e.Format != "rfc3161" || e.Key.Name != "tsa" || e.Details["tsa_serial"] != signed[0].Timestamp.Serial.Text(16) {
		t.Errorf("the countersignature's token is not the last audit entry: %+v", e)
	}
	if _, err := f.clients["admin"].SignAuthenticode(ctx, "win-p256", []string{plain}, []string{plain}); err != nil {
		t.Fatal(err)
	}
	sig, err := client.PESignature(stamped)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := authenticode.ParseSignature(sig)
	if err != nil || parsed.Timestamp == nil || parsed.Verify() != nil {
		t.Fatalf("embedded signature: %v", err)
	}
	// The log records the signature the server made: the bytes without
	// the countersignature.
	orig, err := authenticode.WithoutTimestamp(sig)
	if err != nil {
		t.Fatal(err)
	}
	osum := sha256.Sum256(orig)
	found := false
	for _, e := range f.entries(t) {
		found = found || e.Format == "authenticode" && e.Artifact.Signature == "sha256:"+hex.EncodeToString(osum[:])
	}
	if !found {
		t.Error("the signature without its countersignature is not the one the log recorded")
	}
	if _, err := exec.LookPath("osslsigncode"); err != nil {
		t.Fatal("osslsigncode is needed (scripts/test installs it)")
	}
	verify := func(file string, at time.Time) (string, error) {
		args := []string{"verify", "-CAfile", caFile, "-TSA-CAfile", caFile, "-in", file}
		if !at.IsZero() {
			args = append(args, "-time", strconv.FormatInt(at.Unix(), 10))
		}
		out, err := exec.Command("osslsigncode", args...).CombinedOutput()
		if err == nil && !strings.Contains(string(out), "Signature verification: ok") {
			err = fmt.Errorf("no 'Signature verification: ok'")
		}
		return string(out), err
	}
	if out, err := verify(stamped, time.Time{}); err != nil || !strings.Contains(out, "Timestamp Server Signature verification: ok") {
		t.Errorf("osslsigncode verify of the time-stamped file: %v\n%s", err, out)
	}
	// Three years on, the two-year code-signing certificate has expired.
	later := time.Now().Add(3 * 365 * 24 * time.Hour)
	if out, err := verify(stamped, later); err != nil {
		t.Errorf("osslsigncode verify of the time-stamped file after the certificate expired: %v\n%s", err, out)
	}
	if out, err := verify(plain, later); err == nil {
		t.Errorf("osslsigncode verify accepted a signature without timestamp after its certificate expired:\n%s", out)
	}
}
