package jsone

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// testdata/cases.yml holds conformance cases written for this project
// from the json-e documentation: every operator, every built-in,
// interpolation, escaping, and each error class, several with the exact
// message. It covers the language in CI without json-e's own suite, which
// TestSpecification reads from the third-party test-data directory.

// minCases guards against a truncated or misparsed file.
const minCases = 300

func loadCases(t testing.TB) []specCase {
	t.Helper()
	data, err := os.ReadFile("testdata/cases.yml")
	if err != nil {
		t.Fatalf("read the conformance cases: %v", err)
	}
	cases := parseCases(t, data, "cases.yml")
	if len(cases) < minCases {
		t.Fatalf("loaded only %d cases from testdata/cases.yml; it has more than %d", len(cases), minCases)
	}
	return cases
}

// TestCases runs every case of testdata/cases.yml and demands the exact
// result, the exact error text, or the error class the case names.
func TestCases(t *testing.T) {
	cases := loadCases(t)
	passed := runCases(t, cases)
	t.Logf("conformance: %d of %d cases of cases.yml pass", passed, len(cases))
}

// TestCasesReference renders every case of testdata/cases.yml with the
// reference implementation (npm json-e under node) and demands what the
// case expects: the same result, or an error of the expected class with
// the expected message where the case gives one. The expectations are so
// checked against json-e itself, not only asserted; TestCases holds this
// package to them.
func TestCasesReference(t *testing.T) {
	cases := loadCases(t)
	pkg := installReference(t)
	pairs := make([][2]any, len(cases))
	for i, c := range cases {
		ctx := map[string]any{}
		for k, v := range c.context {
			ctx[k] = v
		}
		// The reference's clock cannot be set: the cases' time is given
		// as now, as RenderAt's is.
		if _, ok := ctx["now"]; !ok {
			ctx["now"] = specNow.Format("2006-01-02T15:04:05.000Z")
		}
		pairs[i] = [2]any{c.template, ctx}
	}
	outcomes := runReference(t, pkg, pairs)
	for i, c := range cases {
		ref := outcomes[i]
		t.Run(c.section+": "+c.title, func(t *testing.T) {
			if !c.hasError {
				if !ref.OK {
					t.Fatalf("the case expects %s; the reference fails: %s", mustJSON(c.result), ref.Text)
				}
				var got any
				if ref.Result != "" {
					if err := json.Unmarshal([]byte(ref.Result), &got); err != nil {
						t.Fatalf("reference result %q: %v", ref.Result, err)
					}
				}
				want, err := normalize(c.result, 0)
				if err != nil {
					t.Fatal(err)
				}
				if got, err = normalize(got, 0); err != nil {
					t.Fatal(err)
				}
				if !deepEqual(got, want) {
					t.Fatalf("the case expects %s; the reference renders %s", mustJSON(want), ref.Result)
				}
				return
			}
			if ref.OK {
				t.Fatalf("the case expects an error; the reference renders %s", ref.Result)
			}
			if !jsoneClasses[ref.Name] {
				// The reference's JavaScript failed (TypeError, RangeError,
				// a plain Error) before json-e classified the error: the
				// case's class is this package's. Where the case gives the
				// message, the reference's must still read the same.
				if c.errText != "" {
					if _, msg, _ := strings.Cut(c.errText, ": "); msg != ref.Message {
						t.Fatalf("the case expects the message %q; the reference says %s", msg, ref.Text)
					}
				}
				return
			}
			class := c.errClass
			if c.errText != "" {
				class = ErrorClass(strings.FieldsFunc(c.errText, func(r rune) bool { return r == ' ' || r == ':' })[0])
			}
			if class != "" && ref.Name != string(class) {
				t.Fatalf("the case expects a %s; the reference fails with %s", class, ref.Text)
			}
			if c.errText != "" && ref.Text != c.errText {
				t.Fatalf("the case expects the error\n  %s\nthe reference says\n  %s", c.errText, ref.Text)
			}
		})
	}
}
