package main

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/signet-dev/signet/internal/testenv/cosign"
	"github.com/signet-dev/signet/internal/testenv/registry"
	"github.com/signet-dev/signet/oci"
)

// ocireg VAR REPO:TAG starts a registry (Debian's docker-registry) on
// loopback for the rest of the script, pushes a random image to REPO:TAG,
// and sets VAR to the image's reference by digest, VAR_DIGEST to its
// digest and VAR_HOST to the registry. DOCKER_CONFIG points at an empty directory.
func cmdOCIRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: ocireg VAR REPO:TAG")
	}
	r, stop, err := registry.Run(ts.MkAbs("registry-"+args[0]), registry.Options{})
	ts.Check(err)
	ts.Defer(stop)
	d, err := r.Push(args[1])
	ts.Check(err)
	ts.Setenv(args[0], d.String())
	ts.Setenv(args[0]+"_HOST", r.Host)
	ts.Setenv(args[0]+"_DIGEST", d.DigestStr())
	ts.Setenv("DOCKER_CONFIG", ts.MkAbs("docker-config"))
}

// cosignchk PUBLIC.pem IMAGE [PREDICATE-TYPE] checks the image's cosign
// signatures (REPO:sha256-HEX.sig) as cosign verify --key does, with
// sigstore's own verifiers: one layer must name the image's digest and
// verify with the key. With PREDICATE-TYPE it checks an attestation of
// that type in REPO:sha256-HEX.att like cosign verify-attestation. With
// SIGNET_TEST_COSIGN=1 the cosign command checks the same.
func cmdCosignVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: cosignchk PUBLIC.pem IMAGE [PREDICATE-TYPE]")
	}
	err := cosignVerify(ts, args)
	switch {
	case err != nil && !neg:
		ts.Fatalf("%v", err)
	case err == nil && neg:
		ts.Fatalf("%s verified", args[1])
	case err != nil:
		ts.Logf("cosignchk: %v", err)
	}
}

func cosignVerify(ts *testscript.TestScript, args []string) error {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(ts.ReadFile(args[0])))
	if err != nil {
		return err
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return err
	}
	img, err := name.NewDigest(args[1])
	if err != nil {
		return err
	}
	suffix := ".sig"
	if len(args) == 3 {
		suffix = ".att"
	}
	sigImg, err := remote.Image(oci.CosignTag(img, suffix))
	if err != nil {
		return err
	}
	m, err := sigImg.Manifest()
	if err != nil {
		return err
	}
	layers, err := sigImg.Layers()
	if err != nil {
		return err
	}
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		ann := m.Layers[i].Annotations
		if suffix == ".att" {
			if ann[oci.PredicateTypeAnnotation] == args[2] && sigdsse.WrapVerifier(v).VerifySignature(bytes.NewReader(b), nil) == nil {
				return realCosign(ts, args)
			}
			continue
		}
		var p payload.Cosign
		raw, err := base64.StdEncoding.DecodeString(ann["dev.cosignproject.cosign/signature"])
		if err != nil || json.Unmarshal(b, &p) != nil || p.Image.DigestStr() != img.DigestStr() {
			continue
		}
		if v.VerifySignature(bytes.NewReader(raw), bytes.NewReader(b)) == nil {
			return realCosign(ts, args)
		}
	}
	return fmt.Errorf("no signature of %s verifies with %s", img, args[0])
}

// realCosign runs the cosign command too in the opt-in cosign stage.
func realCosign(ts *testscript.TestScript, args []string) error {
	if ts.Getenv(cosign.OptInVar) != "1" {
		return nil
	}
	bin, err := cosign.Build()
	if err != nil {
		return err
	}
	env := []string{"DOCKER_CONFIG=" + ts.Getenv("DOCKER_CONFIG"), "TUF_ROOT=" + filepath.Join(ts.Getenv("WORK"), "tuf")}
	cmd := []string{"verify", "--key", ts.MkAbs(args[0]), "--insecure-ignore-tlog", args[1]}
	if len(args) == 3 {
		cmd = []string{"verify-attestation", "--key", ts.MkAbs(args[0]), "--insecure-ignore-tlog", "--type", args[2], args[1]}
	}
	out, err := cosign.Try(bin, env, cmd...)
	if err != nil {
		return fmt.Errorf("cosign %v: %v\n%s", cmd, err, out)
	}
	return nil
}
