package server

import (
	"crypto"
	"slices"
	"strings"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/sshsig"
	"github.com/signet-dev/signet/keystore"
)

// sshFormat is format/sshsig: SSH signatures (ssh-keygen -Y sign) over a
// SHA-512 (or SHA-256) digest of the message, for git commits, tags and
// files. The request names the namespace; the server builds the signed
// blob around the digest, so the namespace in the signature is always the
// one recorded.
type sshFormat struct{}

func (sshFormat) usage() string { return "ssh" }

func (sshFormat) keyTypes() []keystore.Type { return keystore.Types() }

func (sshFormat) checkOptions(o *api.SignOptions) error {
	if o.RSAPSS {
		return badRequest("format ssh signs RSA keys with rsa-sha2-512 (PKCS #1 v1.5), as ssh-keygen does; drop rsa_pss")
	}
	if o.Namespace == "" {
		return badRequest("format ssh needs a namespace, such as \"git\" for commits and tags or \"file\" for files")
	}
	if err := sshsig.ValidNamespace(o.Namespace); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

func (sshFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	h, sum, err := digestItem(it, "ssh", crypto.SHA512, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	if it.TrustedComment != "" {
		return nil, badRequest("%q: format ssh takes no trusted comment; trusted comments are for format minisign", it.Name)
	}
	sig, err := sshsig.Sign(sc.signer, sc.opts.Namespace, h, sum)
	if err != nil {
		return nil, err
	}
	return &signed{
		sig:     sig.Armor(),
		digests: []string{it.Digest},
		details: map[string]string{"namespace": sc.opts.Namespace, "algorithm": sig.Signature.Format},
	}, nil
}

// digestItem returns the digest of an item of a format that signs digests
// made with one of hs, refusing data and other algorithms.
func digestItem(it *api.SignItem, format string, hs ...crypto.Hash) (crypto.Hash, []byte, error) {
	var names []string
	for _, h := range hs {
		names = append(names, api.HashName(h))
	}
	want := strings.Join(names, " or ")
	if it.Digest == "" || it.Data != nil {
		return 0, nil, badRequest("%q: format %s signs a digest: send the %s digest of the artifact, not its data", it.Name, format, want)
	}
	h, sum, err := api.ParseDigest(it.Digest)
	if err != nil {
		return 0, nil, badRequest("%q: %v", it.Name, err)
	}
	if !slices.Contains(hs, h) {
		return 0, nil, badRequest("%q: format %s signs %s digests, not %s", it.Name, format, want, api.HashName(h))
	}
	return h, sum, nil
}
