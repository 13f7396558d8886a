package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/pgtest"
	"github.com/signet-dev/signet/keystore"
)

// TestKeystoreMigrate: one command moves a keystore directory into
// PostgreSQL, keys and passphrase unchanged, and refuses to do it twice;
// a directory a server is using is refused.
func TestKeystoreMigrate(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("migrate me")
	if err := keystore.Init(dir, pass); err != nil {
		t.Fatal(err)
	}
	d, _ := keystore.Open(dir)
	d.Unlock(pass)
	want, err := d.Create(keystore.Spec{Name: "rel", Type: keystore.Ed25519})
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.Start(t).NewDatabase(t)

	release, err := keystore.LockServing(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"keystore", "migrate", "--from", dir, "--to", dsn}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "in use") {
		t.Fatalf("migrating a directory in use: exit %d, %s", code, errb.String())
	}
	release()

	out.Reset()
	errb.Reset()
	if code := run([]string{"keystore", "migrate", "--from", dir, "--to", dsn}, &out, &errb); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "1 keys (rel)") {
		t.Errorf("migrate said %q", out.String())
	}
	pg, err := keystore.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Unlock(pass); err != nil {
		t.Fatalf("the same passphrase does not unlock the migrated keystore: %v", err)
	}
	got, err := pg.Key("rel")
	if err != nil || got.Fingerprint() != want.Fingerprint() {
		t.Fatalf("migrated key rel: %v, %v; want %s", got.Fingerprint(), err, want.Fingerprint())
	}
	if _, err := pg.Signer("rel"); err != nil {
		t.Fatal(err)
	}

	errb.Reset()
	if code := run([]string{"keystore", "migrate", "--from", dir, "--to", dsn}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "already holds a keystore") {
		t.Fatalf("migrating twice: exit %d, %s", code, errb.String())
	}
	if _, err := keystore.OpenPostgres(context.Background(), pgtest.Start(t).NewDatabase(t)); !errors.Is(err, keystore.ErrNotInitialized) {
		t.Fatalf("opening an empty database: %v; want ErrNotInitialized", err)
	}
}
