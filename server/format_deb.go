package server

import (
	"crypto"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/format/deb"
	"github.com/signet-dev/signet/format/openpgp"
	"github.com/signet-dev/signet/keystore"
)

// debFormat is format/deb: the debsigs origin signature (_gpgorigin) of a
// Debian package, an armored detached OpenPGP signature over the package's
// debian-binary, control.tar and data.tar. The client sends the SHA-256
// state of that content, so the package is never uploaded, and the
// package's name, version and architecture, which the server checks for
// syntax and records: it cannot tie them to the hash state, which is why
// keys of usage deb sign nothing else (docs/formats.md).
type debFormat struct{}

func (debFormat) usage() string             { return "deb" }
func (debFormat) keyTypes() []keystore.Type { return pgpTypes }

func (debFormat) checkOptions(o *api.SignOptions) error {
	if *o != (api.SignOptions{}) {
		return badRequest("format deb takes no options (rsa_pss, namespace, armor): _gpgorigin is always armored")
	}
	return nil
}

func (debFormat) sign(sc *signContext, it *api.SignItem) (*signed, error) {
	st := it.SHA256State
	if st == nil || it.Digest != "" || it.Data != nil {
		return nil, badRequest("%q: format deb takes sha256_state, the SHA-256 state after the package's debian-binary, control.tar and data.tar (see docs/formats.md), not a digest or data", it.Name)
	}
	if it.TrustedComment != "" {
		return nil, badRequest("%q: format deb takes no trusted comment", it.Name)
	}
	p := it.Package
	if p == nil {
		return nil, badRequest("%q: format deb needs the package's identity (package: name, version, arch) from its control file", it.Name)
	}
	if p.Epoch != "" || p.Release != "" {
		return nil, badRequest("%q: a Debian package has no separate epoch or release: send its whole Version, such as 1:2.0-3", it.Name)
	}
	id := deb.Identity{Package: p.Name, Version: p.Version, Architecture: p.Arch}
	if err := deb.CheckIdentity(id); err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	if it.Size != 0 && it.Size != st.Length {
		return nil, badRequest("%q: size %d differs from the %d bytes the sha256_state has hashed", it.Name, it.Size, st.Length)
	}
	h, err := openpgp.HashState{Chain: st.Chain, Tail: st.Tail, Length: st.Length}.Resume()
	if err != nil {
		return nil, badRequest("%q: %v", it.Name, err)
	}
	contentSum := h.Sum(nil)
	s, err := openpgpSigner(sc.key, sc.version, sc.signer)
	if err != nil {
		return nil, err
	}
	sig, err := deb.Sign(s, h, sc.now)
	if err != nil {
		return nil, err
	}
	return &signed{sig: sig, digests: []string{api.Digest(crypto.SHA256, contentSum)}, details: map[string]string{
		"package":             id.Package,
		"version":             id.Version,
		"architecture":        id.Architecture,
		"member":              deb.SignatureMember,
		"openpgp_fingerprint": s.Primary().FingerprintHex(),
		"openpgp_signing_key": s.Key().FingerprintHex(),
	}}, nil
}
