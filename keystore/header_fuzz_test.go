package keystore

import (
	"testing"
)

// FuzzParseHeader checks that no keystore.json, the file that also holds
// the custody set, makes Open panic, and that what parses re-encodes to
// something that parses the same way.
func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeader(data)
		if err != nil {
			return
		}
		out, err := marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := parseHeader(out)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", out, err)
		}
		if h.mode() != h2.mode() || string(h.wrapAD()) != string(h2.wrapAD()) {
			t.Fatalf("round trip changed the header:\n%s", out)
		}
	})
}
