package jsone

import (
	"strings"
	"testing"
)

// TestReferenceBehaviour pins what the reference implementation (npm
// json-e 4.8.4) was observed to do where the documentation and the
// conformance suite are silent, so that a change here fails at once rather
// than once in thousands of generated cases.
func TestReferenceBehaviour(t *testing.T) {
	ctx := map[string]any{"arr": []any{10.0, 20.0, 30.0, 40.0}, "big": 1e21, "small": 1.5e-7, "whole": 123456789012.0}
	tests := []struct {
		name     string
		template any
		want     string // result as JSON, or "!" and a part of the error
	}{
		{"in binds looser than ==", map[string]any{"$eval": "1 == 1 in [true]"}, `true`},
		{"unary binds tighter than **", map[string]any{"$eval": "-2 ** 2"}, `4`},
		{"** is right-associative", map[string]any{"$eval": "2 ** 3 ** 2"}, `512`},
		{"unary binds tighter than a call", map[string]any{"$eval": "!defined('x')"}, `!InterpreterError: false is not callable`},
		{"unary binds tighter than .", map[string]any{"$eval": "-{a: 1}.a"}, `!InterpreterError: unary - expects number`},
		{"negative index stops at the first element", map[string]any{"$eval": "[arr[-5], arr[-4.5], 'abc'[-9]]"}, `[10,10,"a"]`},
		{"negative fraction inside the array", map[string]any{"$eval": "arr[-1.5]"}, `!should only use integers`},
		{"a repeated literal key replaces the first unevaluated", map[string]any{"$eval": "{a: nope, a: 1}"}, `{"a":1}`},
		{"an empty range with step 0", map[string]any{"$eval": "range(5, 5, 0)"}, `[]`},
		{"an endless range", map[string]any{"$eval": "range(1, 5, 0)"}, `!BuiltinError`},
		{"$let with in null", map[string]any{"$let": map[string]any{"a": 1.0}, "in": nil}, "!requires an `in` clause"},
		{"$json of nothing", map[string]any{"$json": map[string]any{"$if": "false", "then": 1.0}}, `"{}"`},
		{"a reserved key holding nothing", map[string]any{"$nothing": map[string]any{"$if": "false", "then": 1.0}}, `{}`},
		{"$switch evaluates every condition", map[string]any{"$switch": map[string]any{"true": 1.0, "x": 2.0, "y": 3.0}}, `!unknown context value x`},
		{"$switch counts after evaluating", map[string]any{"$switch": map[string]any{"1": 1.0, "2": 2.0, "nope": 3.0}}, `!unknown context value nope`},
		{"full case mapping", map[string]any{"$eval": "[uppercase('straße'), lowercase('ΟΔΟΣ')]"}, `["STRASSE","οδος"]`},
		{"NaN inside expressions", map[string]any{"$eval": "[str(max(sqrt(-1), 1)), sqrt(-1) == sqrt(-1), sqrt(-1) < 1]"}, `["NaN",false,false]`},
		{"NaN in the result", map[string]any{"$eval": "min(1, sqrt(-1))"}, `!cannot represent`},
		{"numbers print as in JavaScript", "${big} ${small} ${whole} ${1/3} ${0.1 + 0.2}", `"1e+21 1.5e-7 123456789012 0.3333333333333333 0.30000000000000004"`},
		{"exact powers", map[string]any{"$eval": "0.16 ** 14"}, `7.205759403792796e-12`},
		{"only one operator", map[string]any{"$eval": "1", "$if": "true"}, `!only one operator allowed`},
		{"a function interpolated", "${min}", `!produced a function`},
		{"a callee before its arguments", map[string]any{"$eval": "(1)(nope)"}, `!1 is not callable`},
		{"the exponent before the base", map[string]any{"$eval": "nope1 ** nope2"}, `!unknown context value nope2`},
		{"a trailing comma in an object literal", map[string]any{"$eval": "{a: 1,}"}, `{"a":1}`},
		// The reference fails here too, with a JavaScript TypeError.
		{"no trailing comma in an array literal", map[string]any{"$eval": "[1,]"}, `!SyntaxError`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderAt(tt.template, ctx, specNow)
			if want, ok := strings.CutPrefix(tt.want, "!"); ok {
				if err == nil {
					t.Fatalf("got %s, want an error with %q", mustJSON(got), want)
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q, want one with %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := mustJSON(got); s != tt.want {
				t.Fatalf("got %s, want %s", s, tt.want)
			}
		})
	}
}
