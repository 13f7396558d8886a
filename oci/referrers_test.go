package oci_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/signettest"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/oci"
	"github.com/signet-dev/signet/policy"
)

// TestReferrers signs against a registry that serves the OCI 1.1
// referrers API (go-containerregistry's registry; distribution 2.8 does
// not serve it): the signature is attached by tag as before, and also as
// a referrer of the image that the referrers API lists, with cosign's
// artifactType and the same signed layer.
func TestReferrers(t *testing.T) {
	ts := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(ts.Close)
	host := strings.TrimPrefix(ts.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host + "/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	srv := signettest.Start(t, signettest.Options{
		Principals: map[string]policy.Rules{"releaser": {Grants: []policy.Grant{{Keys: []string{"img"}, Formats: []string{"cosign"}, Artifacts: []string{host + "/app@sha256:*"}}}}},
		Keys:       []keystore.Spec{{Name: "img", Type: keystore.ECDSAP256, Usage: "cosign"}},
	})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var r oci.Registry
	sig, err := r.Sign(context.Background(), srv.Client("releaser"), "img", tag.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Referrer == nil {
		t.Fatal("no referrer pushed to a registry that serves the referrers API")
	}
	idx, err := remote.Referrers(sig.Image)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != sig.Referrer.DigestStr() || m.Manifests[0].ArtifactType != oci.SignatureArtifactType {
		t.Fatalf("referrers of %s: %+v", sig.Image, m.Manifests)
	}
	byTag, _ := remote.Image(sig.Tag)
	tagLayers, _ := byTag.Manifest()
	ref, err := remote.Image(sig.Referrer)
	if err != nil {
		t.Fatal(err)
	}
	refManifest, _ := ref.Manifest()
	if refManifest.Subject == nil || refManifest.Subject.Digest.String() != sig.Image.DigestStr() ||
		refManifest.Layers[0].Digest != tagLayers.Layers[0].Digest || refManifest.Layers[0].Annotations["dev.cosignproject.cosign/signature"] == "" {
		t.Errorf("referrer manifest %+v; tag layers %+v", refManifest, tagLayers.Layers)
	}
}
