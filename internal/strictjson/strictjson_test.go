package strictjson

import (
	"strings"
	"testing"
)

func TestUnmarshal(t *testing.T) {
	type T struct {
		A int `json:"a"`
	}
	for _, tc := range []struct {
		in      string
		want    int
		wantErr string
	}{
		{in: `{"a":1}`, want: 1},
		{in: " {\"a\":2}\n", want: 2},
		{in: `{"a":1,"b":2}`, wantErr: `unknown field "b"`},
		{in: `{"a":1}{"a":2}`, wantErr: "data after the JSON object"},
		{in: `{"a":1} x`, wantErr: "data after the JSON object"},
		{in: `{"a":"1"}`, wantErr: "cannot unmarshal"},
		{in: ``, wantErr: "EOF"},
		{in: `{"a":1`, wantErr: "unexpected EOF"},
	} {
		var v T
		err := Unmarshal([]byte(tc.in), &v)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Unmarshal(%q): %v", tc.in, err)
		case tc.wantErr == "" && v.A != tc.want:
			t.Errorf("Unmarshal(%q) = %d, want %d", tc.in, v.A, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Unmarshal(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
		}
	}
}
