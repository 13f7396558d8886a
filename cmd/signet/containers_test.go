package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/notaryproject/notation-go"
	notationdir "github.com/notaryproject/notation-go/dir"
	notationplugin "github.com/notaryproject/notation-go/plugin"
	notationregistry "github.com/notaryproject/notation-go/registry"
	notationsigner "github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	orasremote "oras.land/oras-go/v2/registry/remote"

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
	if os.Getenv(cosign.OptInVar) != "1" {
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

// buildplugs builds sigstore-kms-signet-oracle and notation-signet-oracle
// into $WORK/plugins and sets PLUGINS to that directory.
func cmdBuildPlugins(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: buildplugs")
	}
	dir := ts.MkAbs("plugins")
	root, err := filepath.Abs("../..")
	ts.Check(err)
	for _, p := range []string{"sigstore-kms-signet-oracle", "notation-signet-oracle"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, p), "./cmd/"+p)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			ts.Fatalf("building %s: %v\n%s", p, err, out)
		}
	}
	ts.Setenv("PLUGINS", dir)
}

// clientEnv is the script's Signet client environment, for the plugins,
// which the signing tools run with their own environment.
func clientEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, k := range []string{"SIGNET_SERVER", "SIGNET_CACERT", "SIGNET_CLIENT_CERT", "SIGNET_CLIENT_KEY", "SIGNET_TOKEN", "DOCKER_CONFIG"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	return env
}

// notarysign KEY REPO IMAGE signs IMAGE with notation-go's plugin
// signer, which runs $PLUGINS/notation-signet-oracle as the notation CLI
// does, with plugin config repository=REPO.
func cmdNotationSign(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: notarysign KEY REPO IMAGE")
	}
	// notation runs the plugin with the process's environment; a wrapper
	// gives it the script's.
	wrapper := ts.MkAbs("notation-signet-oracle-wrapper")
	var script strings.Builder
	script.WriteString("#!/bin/sh\n")
	for _, kv := range clientEnv(ts) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&script, "export %s='%s'\n", k, v)
	}
	fmt.Fprintf(&script, "exec '%s' \"$@\"\n", filepath.Join(ts.Getenv("PLUGINS"), "notation-signet-oracle"))
	ts.Check(os.WriteFile(wrapper, []byte(script.String()), 0o755))
	ctx := context.Background()
	p, err := notationplugin.NewCLIPlugin(ctx, "signet-oracle", wrapper)
	ts.Check(err)
	s, err := notationsigner.NewPluginSigner(p, args[0], map[string]string{"repository": args[1]})
	ts.Check(err)
	repo, err := orasremote.NewRepository(args[2])
	ts.Check(err)
	repo.PlainHTTP = true
	_, err = notation.Sign(ctx, s, notationregistry.NewRepository(repo), notation.SignOptions{
		SignerSignOptions: notation.SignerSignOptions{SignatureMediaType: "application/jose+json"},
		ArtifactReference: args[2],
	})
	switch {
	case err != nil && !neg:
		ts.Fatalf("notation sign: %v", err)
	case err == nil && neg:
		ts.Fatalf("notation sign succeeded")
	case err != nil:
		ts.Logf("notation sign: %v", err)
	}
}

// notarychk ROOT.pem IMAGE verifies IMAGE's notation signatures with
// notation-go's verifier, trusting ROOT.pem for the image's repository at
// the strict level.
func cmdNotationVerify(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: notarychk ROOT.pem IMAGE")
	}
	root := ts.MkAbs("notation-" + filepath.Base(args[0]))
	store := filepath.Join(root, "truststore", "x509", "ca", "signet")
	ts.Check(os.MkdirAll(store, 0o700))
	ts.Check(os.WriteFile(filepath.Join(store, "root.pem"), []byte(ts.ReadFile(args[0])), 0o600))
	repoName, _, _ := strings.Cut(args[1], "@")
	doc := trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "signet", RegistryScopes: []string{repoName},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: trustpolicy.LevelStrict.Name},
		TrustStores:           []string{"ca:signet"}, TrustedIdentities: []string{"*"},
	}}}
	v, err := verifier.New(&doc, truststore.NewX509TrustStore(notationdir.NewSysFS(root)), nil)
	ts.Check(err)
	repo, err := orasremote.NewRepository(args[1])
	ts.Check(err)
	repo.PlainHTTP = true
	_, _, err = notation.Verify(context.Background(), v, notationregistry.NewRepository(repo), notation.VerifyOptions{ArtifactReference: args[1], MaxSignatureAttempts: 10})
	switch {
	case err != nil && !neg:
		ts.Fatalf("notation verify: %v", err)
	case err == nil && neg:
		ts.Fatalf("notation verify succeeded")
	case err != nil:
		ts.Logf("notation verify: %v", err)
	}
}

// cosignrun ARGS... runs the cosign command with the plugins on PATH and
// the script's Signet credentials, in the opt-in cosign stage
// (SIGNET_TEST_COSIGN=1); otherwise it only logs that it did not run.
func cmdCosignRun(ts *testscript.TestScript, neg bool, args []string) {
	if os.Getenv(cosign.OptInVar) != "1" {
		ts.Logf("cosign %s: not run; the real-cosign stage is opt-in (%s=1)", strings.Join(args, " "), cosign.OptInVar)
		return
	}
	bin, err := cosign.Build()
	ts.Check(err)
	env := append(clientEnv(ts), "PATH="+ts.Getenv("PLUGINS")+string(os.PathListSeparator)+ts.Getenv("PATH"),
		"TUF_ROOT="+ts.MkAbs("tuf"), "COSIGN_YES=true")
	out, err := cosign.Try(bin, env, args...)
	ts.Logf("%s", out)
	switch {
	case err != nil && !neg:
		ts.Fatalf("cosign %s: %v", strings.Join(args, " "), err)
	case err == nil && neg:
		ts.Fatalf("cosign %s succeeded", strings.Join(args, " "))
	}
}
