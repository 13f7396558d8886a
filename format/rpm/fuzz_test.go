package rpm

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/signet-dev/signet/format/openpgp"
)

func str(tag Tag, s string) Entry {
	return Entry{Tag: tag, Type: TypeString, Count: 1, Value: append([]byte(s), 0)}
}

func i32(tag Tag, v uint32) Entry {
	return Entry{Tag: tag, Type: TypeInt32, Count: 1, Value: binary.BigEndian.AppendUint32(nil, v)}
}

// testMainHeader is the smallest main header SignHeader accepts.
func testMainHeader() []byte {
	return encodeHeader(TagImmutable, []Entry{
		str(TagName, "tiny"), str(TagVersion, "1"), str(TagRelease, "1"), i32(TagEpoch, 2),
		{Tag: TagArch, Type: TypeString, Count: 1, Value: []byte("noarch\x00")},
		{Tag: TagSourceRPM, Type: TypeString, Count: 1, Value: []byte("tiny-1-1.src.rpm\x00")},
		{Tag: TagPayloadDigest, Type: TypeStringArray, Count: 1, Value: append(bytes.Repeat([]byte("ab"), 32), 0)},
		i32(TagPayloadDigestAlgo, 8),
	})
}

// testPackage is a package file: lead, a signature header with a header
// digest and reserved space, the main header, a payload of four bytes.
func testPackage() []byte {
	lead := make([]byte, LeadSize)
	copy(lead, leadMagic)
	lead[4] = 3
	binary.BigEndian.PutUint16(lead[78:], 5)
	sig := encodeHeader(TagSignatures, []Entry{
		str(TagSHA256Header, "00"),
		{Tag: TagReservedSpace, Type: TypeBin, Count: 200, Value: make([]byte, 200)},
	})
	out := append(lead, sig...)
	out = append(out, make([]byte, padding(len(sig)))...)
	out = append(out, testMainHeader()...)
	return append(out, "cpio"...)
}

func testSigner(tb testing.TB) *openpgp.Signer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, err := openpgp.NewKey(priv.Public(), time.Unix(1700000000, 0), "Fuzz <fuzz@example.org>")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := openpgp.NewSigner(k, priv)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestTinyHeaders(t *testing.T) {
	s := testSigner(t)
	ph, sig, err := SignHeader(s, testMainHeader(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := ph.NEVRA.String(); got != "tiny-2:1-1.noarch" {
		t.Errorf("NEVRA %s", got)
	}
	p, err := Read(bytes.NewReader(testPackage()), MaxData)
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := p.Signed(sig)
	if err != nil {
		t.Fatal(err)
	}
	if len(prefix) != int(p.PayloadOffset)-len(p.Header.raw) {
		t.Errorf("the signed lead and signature header take %d bytes, the unsigned %d", len(prefix), int(p.PayloadOffset)-len(p.Header.raw))
	}

	// Headers SignHeader refuses, each one change away from a good one.
	entries := func(drop Tag, add ...Entry) []byte {
		h, _ := ParseHeader(testMainHeader(), TagImmutable)
		es := slices.DeleteFunc(slices.Clone(h.entries), func(e Entry) bool { return e.Tag == drop })
		return encodeHeader(TagImmutable, append(es, add...))
	}
	good := testMainHeader()
	flip := func(at int, v byte) []byte { b := bytes.Clone(good); b[at] = v; return b }
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"no payload digest", entries(TagPayloadDigest), "no payload digest"},
		{"md5 payload digest", entries(TagPayloadDigestAlgo, i32(TagPayloadDigestAlgo, 1)), "hash algorithm 1"},
		{"no name", entries(TagName), "no tag 1000"},
		{"name with blank", entries(TagName, str(TagName, "a b")), "contains ' '"},
		{"version with dash", entries(TagVersion, str(TagVersion, "1-2")), "contains '-'"},
		{"name of wrong type", entries(TagName, Entry{Tag: TagName, Type: TypeBin, Count: 1, Value: []byte("x")}), "not string"},
		{"duplicate tag", entries(0, str(TagName, "again")), "appears twice"},
		{"signature region", encodeHeader(TagSignatures, nil), "region tag 63"},
		{"reserved bytes", flip(4, 1), "no header magic"},
		{"unknown type", flip(16+16+7, 10), "unknown type"},
		{"misaligned int", flip(16+16*4+11, 13), "aligned"},
		{"overlapping value", flip(16+16*2+11, 0), "overlaps"},
		{"tag below 100", entries(0, str(99, "x")), "below 100"},
		{"region too short", flip(16+15, 15), "does not start with region"},
		{"region not covering", flip(len(good)-5, 0x30), "does not cover"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := SignHeader(s, tt.in, time.Now())
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParseHeader checks that parsing never panics, that what parses
// re-encodes to a header that parses to the same entries, and that the
// accessors never panic.
func FuzzParseHeader(f *testing.F) {
	f.Add(testMainHeader())
	f.Add(encodeHeader(TagImmutable, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, region := range []Tag{TagImmutable, TagSignatures} {
			h, err := ParseHeader(b, region)
			if err != nil {
				continue
			}
			again, err := ParseHeader(encodeHeader(region, h.entries), region)
			if err != nil {
				t.Fatalf("re-encoded header does not parse: %v", err)
			}
			if !slices.EqualFunc(h.entries, again.entries, func(a, b Entry) bool {
				return a.Tag == b.Tag && a.Type == b.Type && a.Count == b.Count && bytes.Equal(a.Value, b.Value)
			}) {
				t.Fatal("re-encoded header has other entries")
			}
			h.NEVRA()
			h.PayloadDigest()
		}
	})
}

// FuzzRead checks that reading a package never panics, and that a package
// that reads can be signed into one that reads again, with the signature
// in it and the same main header.
func FuzzRead(f *testing.F) {
	s := testSigner(f)
	_, sig, err := SignHeader(s, testMainHeader(), time.Unix(1700000000, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testPackage())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Read(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		p.CheckHeaderDigests()
		prefix, err := p.Signed(sig)
		if err != nil {
			t.Fatalf("Signed: %v", err)
		}
		q, err := Read(bytes.NewReader(append(prefix, p.Header.raw...)), 1<<20)
		if err != nil {
			t.Fatalf("the signed package does not read: %v", err)
		}
		if got, ok := q.Signature.Get(TagDSAHeader); !ok || !bytes.Equal(got.Value, sig) {
			t.Fatal("the signature is not in the signed package")
		}
		if !bytes.Equal(q.Header.raw, p.Header.raw) {
			t.Fatal("signing changed the main header")
		}
	})
}
