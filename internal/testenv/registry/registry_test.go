package registry_test

import (
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/testenv/registry"
)

// TestRegistry starts a real registry, pushes an image and reads it back,
// with and without basic auth.
func TestRegistry(t *testing.T) {
	for _, o := range []registry.Options{{}, {User: "ci", Password: "s3cret"}} {
		t.Run("auth="+o.User, func(t *testing.T) {
			r := registry.Start(t, o)
			d := r.PushRandom(t, "app:v1")
			m := r.Manifest(t, r.Ref(t, "app:v1"))
			if len(m.Layers) != 2 {
				t.Errorf("pushed image has %d layers, want 2", len(m.Layers))
			}
			if got := r.Manifest(t, d); got.Config.Digest != m.Config.Digest {
				t.Errorf("by digest %s: config %s, by tag %s", d, got.Config.Digest, m.Config.Digest)
			}
			if tags := r.Tags(t, "app"); !slices.Equal(tags, []string{"v1"}) {
				t.Errorf("tags %q", tags)
			}
			if o.User != "" {
				if _, err := remote.Get(d); err == nil {
					t.Error("registry with auth served a manifest without credentials")
				}
			}
		})
	}
}
