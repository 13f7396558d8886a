package keycert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/signet-dev/signet/internal/pgtest"
	"github.com/signet-dev/signet/keycert"
	"github.com/signet-dev/signet/keystore"
)

// TestShared: on a fleet keystore, a chain attached through one replica
// is the chain every replica reads, and replacing it replaces it for all.
func TestShared(t *testing.T) {
	dsn := pgtest.Start(t).NewDatabase(t)
	dir := t.TempDir()
	if err := keystore.Init(dir, []byte("p")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := keystore.MigrateToPostgres(ctx, dir, dsn); err != nil {
		t.Fatal(err)
	}
	var stores []*keycert.Shared
	for range 2 {
		d, err := keystore.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		b, ok := d.SharedBlobs()
		if !ok {
			t.Fatal("a PostgreSQL keystore has no shared blobs")
		}
		stores = append(stores, keycert.NewShared(b))
	}
	if _, ok := (&keystore.Dir{}).SharedBlobs(); ok {
		t.Fatal("a keystore directory claims shared blobs")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := newCA(t, "root", nil)
	chain := []*x509.Certificate{issue(t, codeSigning("release"), root, key.Public(), nil), root.cert}
	if _, err := stores[1].Chain("release"); !errors.Is(err, keycert.ErrNoChain) {
		t.Fatalf("Chain before Attach: %v, want ErrNoChain", err)
	}
	for _, c := range [][]*x509.Certificate{chain[:1], chain} { // attach, then replace
		if err := stores[0].Attach("release", c); err != nil {
			t.Fatal(err)
		}
		got, err := stores[1].Chain("release")
		if err != nil || len(got) != len(c) || !got[0].Equal(c[0]) {
			t.Fatalf("the other replica's Chain = %v, %v; want %d certificates", got, err, len(c))
		}
	}
	if err := stores[0].Attach("../x", chain); err == nil {
		t.Error("attached a chain to key ../x")
	}
}
