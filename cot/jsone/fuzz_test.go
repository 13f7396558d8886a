package jsone

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseExpression: any expression source parses or fails with a
// SyntaxError, and what parses evaluates or fails with a json-e error,
// without a panic or a hang.
func FuzzParseExpression(f *testing.F) {
	for _, s := range []string{"1 + 2", "a.b[0](c)", "{a: [1, 'x'], \"b\": -2 ** 3}", "x[1:-1]", "!defined('y') || z in [1]", "((", "'open"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := parseExpression(src)
		if err != nil {
			if !errors.Is(err, SyntaxError) {
				t.Fatalf("parse %q: error %v is not a SyntaxError", src, err)
			}
			return
		}
		ctx := map[string]any{"a": map[string]any{"b": []any{"s"}}, "x": []any{1.0, 2.0}, "z": 1.0}
		r := &renderer{parsed: map[string]node{}, steps: 100_000}
		sc := (&scope{vars: builtins(specNow)}).with(ctx)
		if _, err := r.eval(n, sc); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("eval %q: error %v is a %T", src, err, err)
			}
		}
	})
}

// FuzzRender: any JSON template and context render to JSON or fail with a
// json-e error, without a panic or a hang.
func FuzzRender(f *testing.F) {
	f.Add(`{"$let": {"x": [1, 2]}, "in": {"$map": {"$eval": "x"}, "each(y)": "${y}-${s}"}}`, `{"s": "a"}`)
	f.Add(`{"$if": "a > 1", "then": {"$json": {"$eval": "b"}}, "else": {"$fromNow": "1 day"}}`, `{"a": 2, "b": {"k": [true, null]}}`)
	f.Add(`{"$reduce": [1, 2, 3], "initial": 0, "each(acc, v)": {"$eval": "acc + v"}}`, `{}`)
	f.Add(`{"$switch": {"x == 1": "one", "$default": {"$mergeDeep": [{"a": [1]}, {"a": [2]}]}}}`, `{"x": 2}`)
	f.Add(`{"$sort": ["b", "a"], "by(v)": "v"}`, `{}`)
	f.Fuzz(func(t *testing.T, templateJSON, contextJSON string) {
		var template any
		var ctx map[string]any
		if json.Unmarshal([]byte(templateJSON), &template) != nil || json.Unmarshal([]byte(contextJSON), &ctx) != nil {
			return
		}
		got, err := RenderAt(template, ctx, specNow)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T", err, err)
			}
			return
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("result is not JSON: %v", err)
		}
	})
}

// FuzzDecodeYAML: any input decodes to JSON values or fails, without a
// panic or a hang.
func FuzzDecodeYAML(f *testing.F) {
	f.Add("tasks:\n  - $if: 'a'\n    then: {x: &r [1, 2]}\n    else: *r\n")
	f.Add("a: &a {b: 1}\nc:\n  <<: *a\n  d: 'yes'\n")
	f.Fuzz(func(t *testing.T, data string) {
		v, err := DecodeYAML([]byte(data))
		if err != nil {
			return
		}
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("value is not JSON: %v", err)
		}
	})
}
