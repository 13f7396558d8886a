// Command notation-signet-oracle is a Notary Project (notation) signing
// plugin: installed as notation's plugin "signet-oracle", `notation sign
// --plugin signet-oracle --id KEY --plugin-config repository=REGISTRY/REPO
// IMAGE` signs with KEY held by a Signet server, through its grants and
// audit log, using the signet command line's credentials (SIGNET_SERVER,
// SIGNET_CACERT, SIGNET_CLIENT_CERT and SIGNET_CLIENT_KEY, or
// SIGNET_TOKEN).
//
// It implements the plugin contract 1.0 with the SIGNATURE_GENERATOR.RAW
// capability (get-plugin-metadata, describe-key, generate-signature) on
// github.com/notaryproject/notation-plugin-framework-go. notation builds
// the JWS envelope; the plugin sends the signing input to the server
// (format notation), which reads the artifact digest from it, checks the
// item's name REGISTRY/REPO@DIGEST against the principal's grants, signs
// and records it, and returns the signature; the plugin adds the key's
// certificate chain ('signet key cert KEY --import-chain').
//
// notation tells a plugin the artifact's digest but not its repository,
// so the repository comes from the plugin config ("repository"); the
// server checks the digest. Only the JWS envelope is supported
// (notation's default; not --signature-format cose).
//
// The name: "signet" belongs to an unrelated project's cosign plugin and
// scheme; both Signet plugins are named signet-oracle, after what Signet
// is, a signing oracle.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/notaryproject/notation-plugin-framework-go/cli"
	"github.com/notaryproject/notation-plugin-framework-go/plugin"

	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/notation"
)

// Name is the plugin's name: notation runs notation-NAME.
const Name = "signet-oracle"

// Version is the plugin's version as notation shows it.
const Version = "1.0.0"

func main() {
	ctx := context.Background()
	c, err := client.New(client.FromEnv())
	p := &signer{c: c, clientErr: err}
	cmd, err := cli.New(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd.Execute(ctx, os.Args)
}

// signer is the plugin: one command per process.
type signer struct {
	c         *client.Client
	clientErr error // from reading the credentials, reported on use
}

func (s *signer) client() (*client.Client, error) {
	if s.clientErr != nil {
		return nil, plugin.NewGenericErrorf("signet-oracle: %v", s.clientErr)
	}
	return s.c, nil
}

func (s *signer) GetMetadata(context.Context, *plugin.GetMetadataRequest) (*plugin.GetMetadataResponse, error) {
	return &plugin.GetMetadataResponse{
		Name:                      Name,
		Description:               "Signs with keys held by a Signet server, through its grants and audit log",
		Version:                   Version,
		URL:                       "https://github.com/signet-dev/signet",
		SupportedContractVersions: []string{plugin.ContractVersion},
		Capabilities:              []plugin.Capability{plugin.CapabilitySignatureGenerator},
	}, nil
}

func (s *signer) DescribeKey(ctx context.Context, req *plugin.DescribeKeyRequest) (*plugin.DescribeKeyResponse, error) {
	spec, err := s.keySpec(ctx, req.KeyID)
	if err != nil {
		return nil, err
	}
	return &plugin.DescribeKeyResponse{KeyID: req.KeyID, KeySpec: spec}, nil
}

func (s *signer) keySpec(ctx context.Context, key string) (plugin.KeySpec, error) {
	c, err := s.client()
	if err != nil {
		return "", err
	}
	k, err := c.Key(ctx, key)
	if err != nil {
		return "", plugin.NewGenericErrorf("key %q: %v", key, err)
	}
	pub, err := client.PublicKey(k)
	if err != nil {
		return "", plugin.NewGenericErrorf("key %q: %v", key, err)
	}
	if _, _, _, err := notation.Algorithm(pub); err != nil {
		return "", plugin.NewValidationErrorf("key %q (%s): %v", key, k.Type, err)
	}
	spec, err := notation.KeySpec(pub)
	if err != nil {
		return "", plugin.NewValidationErrorf("key %q: %v", key, err)
	}
	return plugin.KeySpec(spec), nil
}

func (s *signer) GenerateSignature(ctx context.Context, req *plugin.GenerateSignatureRequest) (*plugin.GenerateSignatureResponse, error) {
	if req.ContractVersion != plugin.ContractVersion {
		return nil, plugin.NewUnsupportedContractVersionError(req.ContractVersion)
	}
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	repo := req.PluginConfig["repository"]
	if repo == "" {
		return nil, plugin.NewValidationError("signet-oracle: name the image's repository for the server's grants: add --plugin-config repository=REGISTRY/REPO")
	}
	in, err := notation.ParseSigningInput(req.Payload)
	if err != nil {
		return nil, plugin.NewValidationErrorf("signet-oracle: %v (only JWS envelopes are supported)", err)
	}
	spec, err := s.keySpec(ctx, req.KeyID)
	if err != nil {
		return nil, err
	}
	if spec != req.KeySpec {
		return nil, plugin.NewValidationErrorf("key %q is %s, not %s", req.KeyID, spec, req.KeySpec)
	}
	chain, err := c.NotationChain(ctx, req.KeyID)
	if err != nil {
		return nil, plugin.NewGenericErrorf("%v", err)
	}
	sig, receipt, err := c.SignNotation(ctx, req.KeyID, repo+"@"+in.Digest, req.Payload)
	if err != nil {
		return nil, plugin.NewGenericErrorf("%v", err)
	}
	fmt.Fprintf(os.Stderr, "signet-oracle: signed %s@%s with key %s; audit log entry %d\n", repo, in.Digest, req.KeyID, receipt.Index)
	_, _, alg, _ := notation.Algorithm(chain[0].PublicKey)
	der := make([][]byte, len(chain))
	for i, cert := range chain {
		der[i] = cert.Raw
	}
	return &plugin.GenerateSignatureResponse{KeyID: req.KeyID, Signature: sig,
		SigningAlgorithm: plugin.SignatureAlgorithm(alg), CertificateChain: der}, nil
}

func (s *signer) GenerateEnvelope(context.Context, *plugin.GenerateEnvelopeRequest) (*plugin.GenerateEnvelopeResponse, error) {
	return nil, plugin.NewUnsupportedError("generate-envelope")
}

func (s *signer) VerifySignature(context.Context, *plugin.VerifySignatureRequest) (*plugin.VerifySignatureResponse, error) {
	return nil, plugin.NewUnsupportedError("verify-signature")
}
