// Command sigstore-kms-signet-oracle is a cosign KMS plugin: with it on
// PATH, `cosign sign --key signet-oracle://KEY IMAGE`, `cosign attest`
// and `cosign sign-blob` sign with KEY held by a Signet server, through
// its grants and audit log, using the credentials of the signet command
// line (SIGNET_SERVER, SIGNET_CACERT, SIGNET_CLIENT_CERT and
// SIGNET_CLIENT_KEY, or SIGNET_TOKEN: '. DATA/client.env' after 'signet
// serve --dev').
//
// It speaks sigstore's KMS CLI plugin protocol v1 (package
// github.com/sigstore/sigstore/pkg/signature/kms/cliplugin): cosign runs
// it once per operation with the protocol version and a JSON request as
// arguments and the message on standard input, and reads a JSON answer
// from standard output.
//
// The name: sigstore-kms-signet and the signet:// scheme already belong
// to an unrelated project, so this plugin is named after what Signet is,
// a signing oracle. Both can be installed side by side.
//
// What crosses to the server is never the image or the blob:
//
//   - a cosign simple signing payload (cosign sign) goes as it is, in
//     format cosign: the server checks which image it names, grants it by
//     image reference, and records its manifest digest;
//   - an in-toto statement (cosign attest signs its DSSE pre-auth
//     encoding) goes in format cosign-attestation, checked the same way,
//     and the plugin returns the signature from the envelope, which is
//     the same signature over the same bytes;
//   - anything else (cosign sign-blob, or a hash cosign computed itself)
//     is hashed here with SHA-256 and only the digest is sent, in format
//     cosign-digest, named $SIGNET_ARTIFACT or "sha256:HEX".
//
// The key must be created with --usage cosign (ecdsa-p256, rsa-3072 or
// rsa-4096); its signatures are what `cosign verify --key` checks.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/cosign"
	"github.com/signet-dev/signet/format/dsse"
)

// Scheme is the key reference scheme cosign maps to this program.
const Scheme = "signet-oracle"

const usage = `sigstore-kms-signet-oracle is a cosign KMS plugin that signs with keys held by
a Signet server. Put it on PATH and give cosign --key signet-oracle://KEY:

    . DATA/client.env        # SIGNET_SERVER and credentials, as for signet
    cosign sign --key signet-oracle://release --tlog-upload=false REGISTRY/REPO@sha256:DIGEST
    cosign attest --key signet-oracle://release --type slsaprovenance --predicate p.json IMAGE
    cosign sign-blob --key signet-oracle://release --output-signature f.sig FILE
    signet key public release > release.pub; cosign verify --key release.pub IMAGE

KEY is a key created with 'signet key create KEY --type ecdsa-p256 --usage cosign'.
cosign runs this program itself; it is not meant to be run by hand.
`

// maxInspect is how much of a message is held to see whether it is an
// image payload or an attestation; larger messages are blobs, hashed as
// they stream.
const maxInspect = dsse.MaxStatementSize + 1024

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 3 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	pa, err := handler.GetPluginArgs(args)
	if err == nil {
		err = checkArgs(args[1], pa)
	}
	if err != nil {
		handler.WriteErrorResponse(stdout, err)
		return 1
	}
	if d := pa.InitOptions.CtxDeadline; d != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *d)
		defer cancel()
	}
	c, err := client.New(client.FromEnv())
	if err != nil {
		handler.WriteErrorResponse(stdout, fmt.Errorf("signet-oracle: %w", err))
		return 1
	}
	s := &signer{ctx: ctx, c: c, key: pa.InitOptions.KeyResourceID, log: stderr}
	if _, err := handler.Dispatch(stdout, stdin, pa, s); err != nil {
		fmt.Fprintf(stderr, "sigstore-kms-signet-oracle: %v\n", err)
		return 1
	}
	return 0
}

// checkArgs checks the protocol version and the request.
func checkArgs(version string, pa *common.PluginArgs) error {
	switch {
	case version != common.ProtocolVersion || pa.InitOptions == nil || pa.InitOptions.ProtocolVersion != common.ProtocolVersion:
		return fmt.Errorf("signet-oracle: this plugin speaks KMS plugin protocol %s, cosign sent %q: use a cosign built with sigstore v1.9 or later", common.ProtocolVersion, version)
	case pa.MethodArgs == nil:
		return errors.New("signet-oracle: no method named")
	case pa.InitOptions.KeyResourceID == "" || strings.Contains(pa.InitOptions.KeyResourceID, "/"):
		return fmt.Errorf("signet-oracle: key reference %q: want signet-oracle://KEY, KEY a Signet key name", pa.InitOptions.KeyResourceID)
	case pa.InitOptions.HashFunc != 0 && pa.InitOptions.HashFunc != crypto.SHA256:
		return fmt.Errorf("signet-oracle: Signet's cosign keys sign SHA-256, not %s", pa.InitOptions.HashFunc)
	}
	return nil
}

// signer is the plugin's side of sigstore's SignerVerifier, one
// operation per process.
type signer struct {
	ctx context.Context
	c   *client.Client
	key string
	log io.Writer // cosign's standard error
}

func (s *signer) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	k, err := s.c.Key(s.ctx, s.key)
	if err != nil {
		return nil, err
	}
	return client.PublicKey(k)
}

func (s *signer) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	var digest []byte
	for _, o := range opts {
		o.ApplyDigest(&digest)
	}
	if digest != nil {
		return s.signDigest(digest)
	}
	head, err := io.ReadAll(io.LimitReader(message, maxInspect+1))
	if err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	if len(head) <= maxInspect {
		if p, err := cosign.ParsePayload(head); err == nil {
			sig, receipt, err := s.c.SignCosignPayload(s.ctx, s.key, head)
			if err != nil {
				return nil, err
			}
			s.logged(p.Image(), receipt)
			return sig, nil
		}
		if typ, body, err := parsePAE(head); err == nil && typ == dsse.PayloadType {
			return s.signAttestation(body)
		}
	}
	h := sha256.New()
	h.Write(head)
	if _, err := io.Copy(h, message); err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	return s.signDigest(h.Sum(nil))
}

// signAttestation signs an in-toto statement in format
// cosign-attestation and returns the envelope's signature, which covers
// the pre-auth encoding cosign asked to sign.
func (s *signer) signAttestation(statement []byte) ([]byte, error) {
	st, err := dsse.ParseStatementV01(statement)
	if err != nil {
		return nil, err
	}
	sub := st.Subject[0]
	image := sub.Name + "@sha256:" + sub.Digest["sha256"]
	env, receipt, err := s.c.AttestCosign(s.ctx, s.key, image, statement)
	if err != nil {
		return nil, err
	}
	e, err := dsse.ParseEnvelope(env)
	if err != nil {
		return nil, err
	}
	if len(e.Signatures) != 1 {
		return nil, fmt.Errorf("the server's envelope has %d signatures, want 1", len(e.Signatures))
	}
	sig, err := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
	if err != nil {
		return nil, fmt.Errorf("the server's envelope: %w", err)
	}
	s.logged(image, receipt)
	return sig, nil
}

func (s *signer) signDigest(digest []byte) ([]byte, error) {
	name := os.Getenv("SIGNET_ARTIFACT")
	if name == "" {
		name = "sha256:" + hex.EncodeToString(digest)
	}
	sig, receipt, err := s.c.SignCosignDigest(s.ctx, s.key, name, digest)
	if err != nil {
		return nil, err
	}
	s.logged(name, receipt)
	return sig, nil
}

func (s *signer) logged(name string, r *audit.Receipt) {
	fmt.Fprintf(s.log, "signet-oracle: signed %s with key %s; audit log entry %d\n", name, s.key, r.Index)
}

func (s *signer) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	pub, err := s.PublicKey()
	if err != nil {
		return err
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return err
	}
	return v.VerifySignature(sig, message, opts...)
}

func (s *signer) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return nil, fmt.Errorf("keys are created inside Signet: run 'signet key create %s --type ecdsa-p256 --usage cosign'", s.key)
}

func (s *signer) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("signet-oracle: no crypto.Signer across the plugin boundary; cosign wraps the plugin itself")
}

func (s *signer) SupportedAlgorithms() []string {
	return []string{"ecdsa-p256-sha256", "rsa-pkcs1v15-3072-sha256", "rsa-pkcs1v15-4096-sha256"}
}

func (s *signer) DefaultAlgorithm() string { return "ecdsa-p256-sha256" }

// parsePAE splits a DSSE pre-authentication encoding,
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// with lengths in ASCII decimal without leading zeros, into its payload
// type and body. Anything else is an error.
func parsePAE(b []byte) (string, []byte, error) {
	rest, ok := bytes.CutPrefix(b, []byte("DSSEv1 "))
	if !ok {
		return "", nil, errors.New("not DSSEv1")
	}
	typ, rest, err := paeField(rest)
	if err != nil {
		return "", nil, fmt.Errorf("payload type: %w", err)
	}
	if len(rest) == 0 || rest[0] != ' ' {
		return "", nil, errors.New("no space after the payload type")
	}
	body, rest, err := paeField(rest[1:])
	if err != nil {
		return "", nil, fmt.Errorf("body: %w", err)
	}
	if len(rest) != 0 {
		return "", nil, errors.New("data after the body")
	}
	return string(typ), body, nil
}

// paeField reads "LEN SP" and LEN bytes.
func paeField(b []byte) (field, rest []byte, err error) {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 || i > 10 || (b[0] == '0' && i > 1) {
		return nil, nil, errors.New("bad length")
	}
	n, err := strconv.Atoi(string(b[:i]))
	if err != nil || n < 0 || n > len(b)-i-1 {
		return nil, nil, errors.New("bad length")
	}
	b = b[i+1:]
	return b[:n], b[n:], nil
}
