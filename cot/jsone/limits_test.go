package jsone

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestLimits: hostile templates end in a TemplateError or SyntaxError
// naming the limit, never a hang, a crash or an exhausted memory.
func TestLimits(t *testing.T) {
	deepArray := any("x")
	for range maxTemplateDepth + 10 {
		deepArray = []any{deepArray}
	}
	doubling := func(body any) any {
		return map[string]any{"$reduce": map[string]any{"$eval": "range(0, 64)"}, "initial": "ab", "each(acc, i)": body}
	}
	tests := []struct {
		name     string
		template any
		class    ErrorClass
		errText  string
	}{
		{"deep template", deepArray, TemplateError, "nested more than"},
		{"deep expression", map[string]any{"$eval": strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000)}, SyntaxError, "nested more than"},
		{"deep unary", map[string]any{"$eval": strings.Repeat("-", 1000) + "1"}, SyntaxError, "nested more than"},
		{"huge range", map[string]any{"$eval": "range(0, 100000000)"}, TemplateError, "range of"},
		{"string doubling", doubling("${acc}${acc}"), TemplateError, "string longer than"},
		{"concatenation doubling", doubling(map[string]any{"$eval": "acc + acc"}), TemplateError, "string longer than"},
		{"array doubling", doubling(map[string]any{"$flattenDeep": []any{map[string]any{"$eval": "[acc, acc]"}}}), TemplateError, "steps"},
		{"shared structure result", doubling(map[string]any{"$eval": "[acc, acc]"}), TemplateError, "result too large"},
		{"shared structure equality", map[string]any{"$let": map[string]any{"d": doubling(map[string]any{"$eval": "[acc, acc]"})}, "in": map[string]any{"$eval": "d == d"}}, TemplateError, "steps"},
		{"shared structure $json", map[string]any{"$json": doubling(map[string]any{"$eval": "[acc, acc]"})}, TemplateError, ""},
		{"join blow-up", map[string]any{"$eval": "join(range(0, 1000000), '" + strings.Repeat("x", 100) + "')"}, TemplateError, "string longer than"},
		{"long loop", map[string]any{"$map": map[string]any{"$eval": "range(0, 1000000)"}, "each(x)": map[string]any{"$map": map[string]any{"$eval": "range(0, 1000000)"}, "each(y)": 1.0}}, TemplateError, "steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderAt(tt.template, nil, specNow)
			if err == nil {
				t.Fatal("rendered; want an error")
			}
			if !errors.Is(err, tt.class) {
				t.Fatalf("error %v is not a %s", err, tt.class)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("error %q does not mention %q", err, tt.errText)
			}
		})
	}
}

// TestErrorClasses: errors.Is tells the classes apart, and the text carries
// the location inside the template.
func TestErrorClasses(t *testing.T) {
	tests := []struct {
		template any
		class    ErrorClass
		text     string
	}{
		{map[string]any{"a": []any{map[string]any{"$eval": "1 +"}}}, SyntaxError, "SyntaxError at template.a[0]: Unexpected end of input"},
		{map[string]any{"b-c": map[string]any{"$eval": "nope"}}, InterpreterError, `InterpreterError at template["b-c"]: unknown context value nope`},
		{map[string]any{"$eval": "len(1)"}, BuiltinError, "BuiltinError: invalid arguments to builtin: len"},
		{map[string]any{"$flatten": 1.0}, TemplateError, "TemplateError: $flatten value must evaluate to an array"},
	}
	for _, tt := range tests {
		_, err := RenderAt(tt.template, nil, specNow)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, tt.class) || err.Error() != tt.text {
			t.Errorf("%s: got %v, want %s", mustJSON(tt.template), err, tt.text)
		}
		for _, other := range []ErrorClass{TemplateError, InterpreterError, SyntaxError, BuiltinError} {
			if other != tt.class && errors.Is(err, other) {
				t.Errorf("%v also matches %s", err, other)
			}
		}
	}
}

// TestInputsUnchanged: rendering never modifies the caller's template or
// context, even where the reference does ($reverse reverses a context array
// in place).
func TestInputsUnchanged(t *testing.T) {
	ctx := map[string]any{"arr": []any{1.0, 2.0, 3.0}, "obj": map[string]any{"a": []any{1.0}}}
	template := []any{
		map[string]any{"$reverse": map[string]any{"$eval": "arr"}},
		map[string]any{"$mergeDeep": []any{map[string]any{"$eval": "obj"}, map[string]any{"a": []any{2.0}}}},
		map[string]any{"$sort": map[string]any{"$eval": "[3, 1, 2]"}},
	}
	before := mustJSON(ctx) + mustJSON(template)
	for range 2 {
		got, err := RenderAt(template, ctx, specNow)
		if err != nil {
			t.Fatal(err)
		}
		if s := mustJSON(got); s != `[[3,2,1],{"a":[1,2]},[1,2,3]]` {
			t.Fatalf("got %s", s)
		}
	}
	if after := mustJSON(ctx) + mustJSON(template); after != before {
		t.Fatalf("inputs changed:\n%s\n%s", before, after)
	}
}

// TestRenderAPI: the types callers pass in (json.Number, Go integers,
// functions) and the Render/RenderAt clock.
func TestRenderAPI(t *testing.T) {
	ctx := map[string]any{
		"i": 7, "u": uint64(3), "j": jsonNumber("2.5"),
		"double": Func(func(args ...any) (any, error) { return args[0].(float64) * 2, nil }),
	}
	got, err := RenderAt(map[string]any{"$eval": "[i + u + j, double(i), now, fromNow('1 day')]"}, ctx, specNow)
	if err != nil {
		t.Fatal(err)
	}
	if s := mustJSON(got); s != `[12.5,14,"2017-01-19T16:27:20.974Z","2017-01-20T16:27:20.974Z"]` {
		t.Fatalf("got %s", s)
	}
	if _, err := RenderAt(map[string]any{"$eval": "x"}, map[string]any{"x": struct{}{}}, specNow); err == nil || !strings.Contains(err.Error(), "unsupported value") {
		t.Fatalf("a struct in the context: got %v", err)
	}
	errNo := errors.New("no such name")
	fail := map[string]any{"f": Func(func(args ...any) (any, error) { return nil, errNo })}
	_, err = RenderAt(map[string]any{"a": map[string]any{"$eval": "f(1)"}}, fail, specNow)
	if !errors.Is(err, errNo) || !errors.Is(err, InterpreterError) || err.Error() != "InterpreterError at template.a: no such name" {
		t.Fatalf("a failing Func: got %v", err)
	}
	now, err := Render(map[string]any{"$eval": "now"}, nil)
	if err != nil || len(now.(string)) != len("2017-01-19T16:27:20.974Z") || now == "2017-01-19T16:27:20.974Z" {
		t.Fatalf("Render's now: %v, %v", now, err)
	}
}

func jsonNumber(s string) any { return json.Number(s) }
