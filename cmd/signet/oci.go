package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/oci"
)

// signImages is 'signet sign --format cosign IMAGE...': each image is
// resolved to its digest, signed, and the signature attached in the
// registry where cosign finds it. It prints each signature's tag.
func signImages(env *cmdEnv, c *client.Client, key string, images []string, annotations map[string]string) error {
	var r oci.Registry
	for _, ref := range images {
		sig, err := r.Sign(env.ctx, c, key, ref, annotations)
		if err != nil {
			return imageError(ref, err)
		}
		fmt.Fprintln(env.stdout, describeImageSignature(sig))
	}
	return nil
}

// attestImages is 'signet attest --format cosign IMAGE...'.
func attestImages(env *cmdEnv, c *client.Client, key string, images []string, predicateType string, predicate []byte) error {
	var r oci.Registry
	for _, ref := range images {
		sig, err := r.Attest(env.ctx, c, key, ref, predicateType, predicate)
		if err != nil {
			return imageError(ref, err)
		}
		fmt.Fprintln(env.stdout, describeImageSignature(sig))
	}
	return nil
}

func describeImageSignature(sig *oci.Signature) string {
	s := fmt.Sprintf("%s: %s (audit log entry %d)", sig.Image, sig.Tag, sig.Receipt.Index)
	if sig.Referrer != nil {
		s += ", referrer " + sig.Referrer.DigestStr()
	}
	return s
}

func imageError(ref string, err error) error {
	if strings.Contains(err.Error(), "UNAUTHORIZED") || strings.Contains(err.Error(), "DENIED") {
		return hintf("log in to the registry first (docker login or a credential helper in $DOCKER_CONFIG/config.json)", "%s: %w", ref, err)
	}
	return fmt.Errorf("%s: %w", ref, err)
}

// annotationFlag collects -a KEY=VALUE, cosign's flag for signed
// annotations.
type annotationFlag map[string]string

func (a annotationFlag) String() string { return "" }

func (a annotationFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("annotation %q is not KEY=VALUE", s)
	}
	a[k] = v
	return nil
}

// readPredicate reads the predicate file of attest.
func readPredicate(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the predicate: %w", err)
	}
	return b, nil
}
