package server

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/rpm"
	"github.com/signet-dev/signet/keystore"
)

// rpmFormat is format/rpm: the header-only OpenPGP signature of an RPM
// package. The item's data is the package's main header, which the server
// parses strictly and signs whole, so a key of usage rpm signs RPM headers
// and nothing else. The package's NEVRA comes from that header: the
// client's must match it, the audit entry records it, and the package's
// file name NAME-VERSION-RELEASE.ARCH.rpm must be granted as well as the
// item's name.
type rpmFormat struct{}

func (rpmFormat) usage() string             { return "rpm" }
func (rpmFormat) keyTypes() []keystore.Type { return pgpTypes }

func (rpmFormat) checkOptions(o *api.SignOptions) error {
	if *o != (api.SignOptions{}) {
		return badRequest("format rpm takes no options (rsa_pss, namespace, armor): the signature is an OpenPGP packet inside the package")
	}
	return nil
}

func (rpmFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	if it.Data == nil || it.Digest != "" || it.SHA256State != nil {
		return nil, badRequest("%q: format rpm takes the package's main header, exactly as in the file, as data (see docs/formats.md)", it.Name)
	}
	if it.TrustedComment != "" {
		return nil, badRequest("%q: format rpm takes no trusted comment", it.Name)
	}
	if it.Package == nil {
		return nil, badRequest("%q: format rpm needs the package's NEVRA (package: name, epoch, version, release, arch)", it.Name)
	}
	if int64(len(it.Data)) > sc.limits.MaxMessageBytes {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf(
			"%q: the package header is %d bytes; this server accepts at most %d (limits.max_message_bytes)", it.Name, len(it.Data), sc.limits.MaxMessageBytes)}
	}
	ph, err := rpm.ParsePackageHeader(it.Data)
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	n := ph.NEVRA
	if c := it.Package; c.Name != n.Name || c.Epoch != n.Epoch || c.Version != n.Version || c.Release != n.Release || c.Arch != n.Arch {
		return nil, badRequest("%q: the header is for package %s, but the request names %s", it.Name, n, rpm.NEVRA{Name: c.Name, Epoch: c.Epoch, Version: c.Version, Release: c.Release, Arch: c.Arch})
	}
	if fn := n.FileName(); fn != it.Name {
		if err := sc.authorize(fn); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				ae.message = fmt.Sprintf("%q holds package %s, whose file name must be granted too: %s", it.Name, n, ae.message)
			}
			return nil, err
		}
	}
	s, err := openpgpSigner(sc.key, sc.version, sc.signer)
	if err != nil {
		return nil, err
	}
	_, sig, err := rpm.SignHeader(s, it.Data, sc.now)
	if err != nil {
		return nil, err
	}
	tag, err := rpm.SignatureTag(sig)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(it.Data)
	details := map[string]string{
		"nevra":               n.String(),
		"name":                n.Name,
		"epoch":               n.Epoch,
		"version":             n.Version,
		"release":             n.Release,
		"arch":                n.Arch,
		"source":              fmt.Sprint(n.Source),
		"payload_digest":      ph.PayloadDigest,
		"signature_tag":       map[rpm.Tag]string{rpm.TagRSAHeader: "RSAHEADER", rpm.TagDSAHeader: "DSAHEADER"}[tag],
		"openpgp_fingerprint": s.Primary().FingerprintHex(),
		"openpgp_signing_key": s.Key().FingerprintHex(),
	}
	if n.Epoch == "" {
		delete(details, "epoch")
	}
	return &signed{sig: sig, digests: []string{api.Digest(crypto.SHA256, sum[:])}, details: details}, nil
}
