package strictjson_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/strictjson"
)

func TestCheckObject(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1,"b":[{"a":1},{"a":2}],"c":{"a":{"b":null}}}`, ""},
		{`{}`, ""},
		{`{"a":1,"a":2}`, "duplicate key"},
		{`{"a":{"b":1,"b":1}}`, "duplicate key"},
		{`{"a":[{"b":1,"b":1}]}`, "duplicate key"},
		{`{"a":1}{}`, "after the JSON object"},
		{`{"a":1} x`, "not valid JSON"},
		{`[1]`, "not a JSON object"},
		{`"s"`, "not a JSON object"},
		{``, "truncated"},
		{`{"a":`, "truncated"},
		{`{"a":[[[[[[[[1]]]]]]]]}`, "nested more than 8"},
	}
	for _, tt := range tests {
		err := strictjson.CheckObject([]byte(tt.in), 8)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckObject(%s) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzCheckObject(f *testing.F) {
	f.Add([]byte(`{"a":[{"b":1}],"c":"d"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if strictjson.CheckObject(b, 8) != nil {
			return
		}
		// What passes is one valid JSON object.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil || m == nil {
			t.Fatalf("CheckObject passed %q, which does not decode as an object: %v", b, err)
		}
	})
}
