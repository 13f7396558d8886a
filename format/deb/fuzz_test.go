package deb_test

import (
	"archive/tar"
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/format/deb"
)

// arMember is one member of a hand-made archive, with its header in
// dpkg's form, or GNU ar's (name ending in "/") when gnu is set.
func arMember(name string, data []byte, gnu bool) []byte {
	if gnu {
		name += "/"
	}
	h := []byte(strings.Repeat(" ", 58) + "`\n")
	copy(h, name)
	copy(h[16:], "1700000000")
	copy(h[28:], "0")
	copy(h[34:], "0")
	copy(h[40:], "100644")
	copy(h[48:], strconv.Itoa(len(data)))
	out := append(h, data...)
	if len(data)%2 == 1 {
		out = append(out, '\n')
	}
	return out
}

// tinyDeb is a package with an uncompressed control.tar holding control.
func tinyDeb(gnu bool, extra ...[]byte) []byte {
	var ct bytes.Buffer
	tw := tar.NewWriter(&ct)
	control := "Package: tiny\nVersion: 1.0-1\nArchitecture: all\nDescription: tiny\n"
	tw.WriteHeader(&tar.Header{Name: "./control", Mode: 0o644, Size: int64(len(control)), Typeflag: tar.TypeReg})
	tw.Write([]byte(control))
	tw.Close()
	out := []byte("!<arch>\n")
	out = append(out, arMember("debian-binary", []byte("2.0\n"), gnu)...)
	out = append(out, arMember("control.tar", ct.Bytes(), gnu)...)
	out = append(out, arMember("data.tar", []byte("odd"), gnu)...)
	for _, e := range extra {
		out = append(out, e...)
	}
	return out
}

func TestTinyDeb(t *testing.T) {
	for _, gnu := range []bool{false, true} {
		b := tinyDeb(gnu)
		p, err := deb.Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		id, err := p.Control()
		if err != nil || id != (deb.Identity{"tiny", "1.0-1", "all"}) {
			t.Errorf("Control: %+v, %v", id, err)
		}
		if content, _ := io.ReadAll(p.SignedContent()); int64(len(content)) != p.SignedSize() || !bytes.HasPrefix(content, []byte("2.0\n")) || !bytes.HasSuffix(content, []byte("odd")) {
			t.Errorf("signed content %q", content)
		}
	}
}

// FuzzOpen checks that reading an archive never panics, and that a
// package that opens can be signed into one that opens again with the
// same signed content and the signature as its last member.
func FuzzOpen(f *testing.F) {
	f.Add(tinyDeb(false))
	f.Add(tinyDeb(true, arMember("_gpgorigin", []byte("sig"), true)))
	sig := []byte("-----BEGIN PGP SIGNATURE-----\n\nAA==\n-----END PGP SIGNATURE-----\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := deb.ReadArchive(bytes.NewReader(b), int64(len(b))); err != nil {
			return
		}
		p, err := deb.Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := p.WriteSigned(&out, sig, time.Unix(1700000000, 0)); err != nil {
			t.Fatalf("WriteSigned: %v", err)
		}
		q, err := deb.Open(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("the signed package does not open: %v", err)
		}
		a, _ := io.ReadAll(p.SignedContent())
		c, _ := io.ReadAll(q.SignedContent())
		if !bytes.Equal(a, c) {
			t.Fatal("signing changed the signed content")
		}
		got, ok, err := q.Signature()
		if err != nil || !ok || !bytes.Equal(got, sig) || q.Members[len(q.Members)-1].Name != deb.SignatureMember {
			t.Fatalf("the signature is not the last member: %v %v", ok, err)
		}
	})
}

// FuzzParseControl checks that a control file either parses to an
// identity CheckIdentity accepts or is refused, without panicking.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte("Package: tiny\nVersion: 1:1.0-1\nArchitecture: all\nDescription: x\n more\n"))
	f.Add([]byte("\n\nPackage: a0\r\nVersion: 0\r\nArchitecture: amd64\r\n\r\nPackage: b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := deb.ParseControl(b)
		if err != nil {
			return
		}
		if err := deb.CheckIdentity(id); err != nil {
			t.Fatalf("ParseControl returned %+v, which CheckIdentity refuses: %v", id, err)
		}
	})
}
