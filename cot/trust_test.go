package cot_test

import (
	"strings"
	"testing"

	"github.com/signet-dev/signet/cot"
	"github.com/signet-dev/signet/cot/cottest"
)

// asProduct nests a single-product trust file under products.NAME.
func asProduct(name, y string) string {
	var b strings.Builder
	b.WriteString("  " + name + ":\n")
	for _, line := range strings.Split(strings.TrimRight(y, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}

// otherProduct is the graph's trust with every key replaced by a fresh one
// and another source prefix: a product that must not verify the graph.
func otherProduct(g *cottest.Graph) string {
	y := g.TrustYAML()
	for _, keys := range g.Keys {
		for _, k := range keys {
			y = strings.ReplaceAll(y, cottest.KeyBase64(k), cottest.KeyBase64(cottest.NewKeyForTest()))
		}
	}
	return y
}

// TestTrustProducts verifies one graph against a trust file of two
// products: the product whose keys signed it verifies, the other does not,
// no product named is an error unless default_product is set, and the
// original single-product form still parses.
func TestTrustProducts(t *testing.T) {
	g := cottest.New(cottest.Options{})
	o := serve(t, g)
	file := "products:\n" + asProduct("firefox", g.TrustYAML()) + asProduct("mobile", otherProduct(g)+"vcs: github\n")
	set, err := cot.ParseTrustSet([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		product string
		ok      bool
	}{{"firefox", true}, {"mobile", false}} {
		tr, err := set.Select(tc.product)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Product != tc.product {
			t.Errorf("Select(%q).Product = %q", tc.product, tr.Product)
		}
		o.Trust = tr
		o.TaskType = "signing"
		res := verify(t, g, "signing", o)
		if res.Verified != tc.ok {
			t.Errorf("product %s: verified %v, want %v:\n%s", tc.product, res.Verified, tc.ok, tree(res))
		}
	}
	if _, err := set.Select(""); err == nil || !strings.Contains(err.Error(), "firefox, mobile") || !strings.Contains(err.Error(), "--product") {
		t.Errorf("Select with no product and no default: err = %v", err)
	}
	if _, err := set.Select("thunderbird"); err == nil || !strings.Contains(err.Error(), "no product \"thunderbird\"") {
		t.Errorf("Select of an unknown product: err = %v", err)
	}
	def, err := cot.ParseTrust([]byte(file + "default_product: mobile\n"))
	if err != nil || def.Product != "mobile" || def.VCS != "github" {
		t.Errorf("default_product: got %+v, %v", def, err)
	}
	for name, bad := range map[string]string{
		"product field at the top": file + "source_env_prefix: X\n",
		"unknown default":          file + "default_product: thunderbird\n",
		"bad vcs":                  "products:\n" + asProduct("x", g.TrustYAML()+"vcs: svn\n"),
		"misspelt product field":   "products:\n" + asProduct("x", g.TrustYAML()+"tasks_fro: [cron]\n"),
		"no products":              "products: {}\n",
	} {
		if _, err := cot.ParseTrustSet([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	single, err := cot.ParseTrustSet([]byte(g.TrustYAML()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := single.Select("firefox"); err == nil || !strings.Contains(err.Error(), "one product without a name") {
		t.Errorf("a product named in a single-product file: err = %v", err)
	}
}

// TestTrustPoolKeys checks keys per worker pool: a pool listed in
// worker_pool_keys verifies with its own keys only, whatever the
// implementation's keys say, so the narrower rule wins both ways.
func TestTrustPoolKeys(t *testing.T) {
	g := cottest.New(cottest.Options{})
	gw := g.Keys["generic-worker"]
	signer := cottest.KeyBase64(gw[len(gw)-1])
	tests := []struct {
		name  string
		edit  func(string) string
		ok    bool
		check string
	}{
		{
			name: "pool key verifies where the implementation has none of it",
			edit: func(y string) string {
				y = strings.ReplaceAll(y, signer, cottest.KeyBase64(cottest.NewKeyForTest()))
				return y + "worker_pool_keys:\n  test-3/b-win: [" + signer + "]\n"
			},
			ok: true, check: "pool test-3/b-win key 1 of 1",
		},
		{
			name: "a pool's own keys replace the implementation's",
			edit: func(y string) string {
				return y + "worker_pool_keys:\n  test-3/b-win: [" + cottest.KeyBase64(cottest.NewKeyForTest()) + "]\n"
			},
			ok: false, check: "does not verify with any of the 1 pool test-3/b-win keys",
		},
		{
			name: "other pools keep the implementation keys",
			edit: func(y string) string {
				return y + "worker_pool_keys:\n  test-3/b-other: [" + cottest.KeyBase64(cottest.NewKeyForTest()) + "]\n"
			},
			ok: true, check: "generic-worker key 2 of 2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := serve(t, g)
			tr, err := cot.ParseTrust([]byte(tc.edit(g.TrustYAML())))
			if err != nil {
				t.Fatal(err)
			}
			o.Trust, o.TaskType = tr, "signing"
			res := verify(t, g, "signing", o)
			if res.Verified != tc.ok {
				t.Fatalf("verified %v, want %v:\n%s", res.Verified, tc.ok, tree(res))
			}
			found := false
			for _, l := range res.Links {
				if l.TaskID != g.ByRole["build-windows"].ID {
					continue
				}
				for _, c := range l.Checks {
					found = found || c.Name == "signature" && strings.Contains(c.Detail, tc.check)
				}
			}
			if !found {
				t.Errorf("no signature check on build-windows saying %q:\n%s", tc.check, tree(res))
			}
		})
	}
	if _, err := cot.ParseTrust([]byte(g.TrustYAML() + "worker_pool_keys:\n  no-slash: [" + signer + "]\n")); err == nil {
		t.Error("a pool key under a name that is not a pool parsed")
	}
}
