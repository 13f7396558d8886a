package api

import (
	"crypto"
	"strings"
	"testing"
)

func TestParseDigest(t *testing.T) {
	tests := []struct {
		in   string
		h    crypto.Hash
		want string // error substring; "" for success
	}{
		{"sha256:" + strings.Repeat("ab", 32), crypto.SHA256, ""},
		{"sha384:" + strings.Repeat("ab", 48), crypto.SHA384, ""},
		{"sha512:" + strings.Repeat("ab", 64), crypto.SHA512, ""},
		{"blake2b512:" + strings.Repeat("ab", 64), crypto.BLAKE2b_512, ""},
		{"sha512:" + strings.Repeat("ab", 32), 0, "sha512 digest is 32 bytes, want 64"},
		{"blake2b512:" + strings.Repeat("ab", 32), 0, "blake2b512 digest is 32 bytes, want 64"},
		{"SHA512:" + strings.Repeat("ab", 64), 0, "not supported"},
		{"blake2b:" + strings.Repeat("ab", 64), 0, "not supported"},
		{"md5:" + strings.Repeat("ab", 16), 0, "not supported"},
		{"sha512:" + strings.Repeat("zz", 64), 0, "not hex"},
		{strings.Repeat("ab", 64), 0, "ALG:HEX"},
	}
	for _, tt := range tests {
		h, sum, err := ParseDigest(tt.in)
		switch {
		case tt.want == "" && (err != nil || h != tt.h || len(sum) != h.Size()):
			t.Errorf("ParseDigest(%.20q…) = %v, %d bytes, %v", tt.in, h, len(sum), err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ParseDigest(%.20q…): %v, want error containing %q", tt.in, err, tt.want)
		}
		if tt.want == "" {
			if back := Digest(h, sum); back != tt.in {
				t.Errorf("Digest round trip: %q, want %q", back, tt.in)
			}
		}
	}
}
