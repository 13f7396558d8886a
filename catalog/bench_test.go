package catalog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/signet-dev/signet/format/openpgp"
)

// BenchmarkAPT10000 checks and signs a generated APT repository of 10,000
// packages (1 to 64 KiB each, about 320 MiB) with Packages, Packages.gz
// and Packages.xz, and in the same iteration runs sha256sum over the same
// files (every file the Release and the Packages index list). It reports
// both wall times and their ratio, sha256sum ÷ catalog: above 1, Signet's
// whole check (parsing, decompressing, opening every file under an
// os.Root, hashing on every core, signing) is faster than hashing alone
// with coreutils. The page cache is warmed first; timing is wall clock.
//
//	go test -run '^$' -bench APT10000 -benchtime 5x ./catalog
func BenchmarkAPT10000(b *testing.B) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		b.Fatal("sha256sum (coreutils) is required")
	}
	root := b.TempDir()
	r := mrand.New(mrand.NewPCG(1, 2))
	var pk bytes.Buffer
	var files []string
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for i := 0; i < 10000; i++ {
		size := 1<<10 + r.IntN(63<<10)
		rel := fmt.Sprintf("pool/main/p/pkg%04d/pkg%04d_1.0_amd64.deb", i/10, i)
		data := append([]byte(fmt.Sprint(i)), buf[:size]...)
		write(b, root, rel, data)
		files = append(files, rel)
		fmt.Fprintf(&pk, "Package: pkg%04d\nVersion: 1.0\nArchitecture: amd64\nMaintainer: Bench <b@example.org>\nInstalled-Size: %d\nFilename: %s\nSize: %d\nSHA256: %s\nDescription: package %d\n\n", i, size>>10, rel, len(data), sha(data), i)
	}
	packages := pk.Bytes()
	z := gz(packages)
	var xzb bytes.Buffer
	xw, _ := xz.NewWriter(&xzb)
	xw.Write(packages)
	xw.Close()
	bin := "dists/stable/main/binary-amd64/"
	write(b, root, bin+"Packages", packages)
	write(b, root, bin+"Packages.gz", z)
	write(b, root, bin+"Packages.xz", xzb.Bytes())
	release := []byte(fmt.Sprintf("Origin: bench\nSuite: stable\nSHA256:\n %s %d main/binary-amd64/Packages\n %s %d main/binary-amd64/Packages.gz\n %s %d main/binary-amd64/Packages.xz\n",
		sha(packages), len(packages), sha(z), len(z), sha(xzb.Bytes()), xzb.Len()))
	write(b, root, "dists/stable/Release", release)
	files = append(files, bin+"Packages", bin+"Packages.gz", bin+"Packages.xz")

	c := aptCatalog(b, root)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := openpgp.NewKey(priv.Public(), time.Unix(1700000000, 0), "bench <b@example.org>")
	s, _ := openpgp.NewSigner(k, priv)
	want := sum(release)
	sha256sum := func() time.Duration {
		start := time.Now()
		cmd := exec.Command("sha256sum", files...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%.500s", err, out)
		}
		return time.Since(start)
	}
	check := func() time.Duration {
		start := time.Now()
		res, err := c.Check(context.Background(), stable, want)
		if err != nil {
			b.Fatal(err)
		}
		if res.References != 10003 {
			b.Fatalf("%d references", res.References)
		}
		if _, err := res.Sign(s, time.Now()); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	sha256sum() // warm the page cache
	check()
	var base, ours time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the order so neither always runs on a cache the other warmed.
		if i%2 == 0 {
			base += sha256sum()
			ours += check()
		} else {
			ours += check()
			base += sha256sum()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(base.Milliseconds())/float64(b.N), "sha256sum-ms")
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "catalog-ms")
	b.ReportMetric(float64(base)/float64(ours), "ratio")
	b.ReportMetric(0, "ns/op")
}
