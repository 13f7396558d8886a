package jsone

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/signet-dev/signet/internal/thirdparty"
)

// specNow is the time the conformance suite assumes ("Test conditions").
var specNow = time.Date(2017, 1, 19, 16, 27, 20, 974_000_000, time.UTC)

type specCase struct {
	title    string
	section  string
	context  map[string]any
	template any
	result   any
	hasError bool
	// errText is the exact error message expected; "" when the suite
	// only says that rendering fails (error: true) or gives the class.
	errText string
	// errClass is the error class expected, when the case names it alone
	// (error: InterpreterError; testdata/cases.yml does so).
	errClass ErrorClass
}

// fromYAML turns a decoded YAML value into a JSON value: map keys become
// strings, as JSON requires.
func fromYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = fromYAML(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = fromYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromYAML(e)
		}
		return out
	}
	return v
}

// loadSpec reads json-e's conformance suite, specification.yml, from the
// third-party test-data directory (internal/thirdparty); the test skips,
// naming the file and where to put it, when it is not there.
// testdata/cases.yml, written for this project, covers the language in
// the suite's absence.
func loadSpec(t testing.TB) []specCase {
	t.Helper()
	data := thirdparty.Read(t, "json-e/specification.yml")
	return parseCases(t, data, "specification.yml")
}

// parseCases reads a stream of YAML documents in the suite's format: a
// document {section: name} starts a section; every other one is a case
// {title, context, template, result} or {…, error: true | "message"}.
func parseCases(t testing.TB, data []byte, file string) []specCase {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var cases []specCase
	section := ""
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decode %s after %d cases: %v", file, len(cases), err)
		}
		if doc == nil {
			continue
		}
		if s, ok := doc["section"].(string); ok {
			section = s
			continue
		}
		c := specCase{section: section, template: fromYAML(doc["template"]), result: fromYAML(doc["result"])}
		c.title, _ = doc["title"].(string)
		if ctx, ok := fromYAML(doc["context"]).(map[string]any); ok {
			c.context = ctx
		}
		switch e := doc["error"].(type) {
		case nil:
		case bool:
			c.hasError = e
		case string:
			c.hasError = true
			if jsoneClasses[e] {
				c.errClass = ErrorClass(e)
			} else {
				c.errText = e
			}
		default:
			t.Fatalf("case %q: error field of type %T", c.title, e)
		}
		if _, ok := doc["panic"]; ok {
			c.hasError = true
		}
		cases = append(cases, c)
	}
	return cases
}

// TestSpecification runs every case of json-e's conformance suite and
// demands the exact result, or the exact error text where the suite gives
// one.
func TestSpecification(t *testing.T) {
	cases := loadSpec(t)
	if len(cases) < 1100 {
		t.Fatalf("loaded only %d cases from specification.yml; the suite has about 1,175", len(cases))
	}
	passed := runCases(t, cases)
	t.Logf("conformance: %d of %d cases of specification.yml pass", passed, len(cases))
}

// runCases runs cases as subtests and returns how many passed.
func runCases(t *testing.T, cases []specCase) int {
	passed := 0
	for i, c := range cases {
		ok := t.Run(fmt.Sprintf("%04d %s: %s", i, c.section, c.title), func(t *testing.T) {
			got, err := RenderAt(c.template, testFunctions(c.context), specNow)
			switch {
			case c.hasError && err == nil:
				t.Fatalf("template %#v: got result %#v, want an error %q", c.template, got, c.errText)
			case c.hasError:
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v is a %T, want *jsone.Error", err, err)
				}
				if c.errText != "" && err.Error() != c.errText {
					t.Fatalf("template %#v: error\n  %s\nwant\n  %s", c.template, err, c.errText)
				}
				if c.errClass != "" && e.Class != c.errClass {
					t.Fatalf("template %#v: error %v, want a %s", c.template, err, c.errClass)
				}
			case err != nil:
				t.Fatalf("template %#v: unexpected error %v", c.template, err)
			default:
				want, nerr := normalize(c.result, 0)
				if nerr != nil {
					t.Fatal(nerr)
				}
				if !deepEqual(got, want) {
					t.Fatalf("template %#v:\n got %#v\nwant %#v", c.template, got, want)
				}
			}
		})
		if ok {
			passed++
		}
	}
	return passed
}
