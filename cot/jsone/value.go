package jsone

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// function is a callable value: a built-in, or a Func from the context.
// Functions compare equal only to themselves.
type function struct {
	name string
	call func(r *renderer, args []any) (any, error)
}

// Func is a function a caller may place in the context; templates call it
// as name(args…). Arguments and result are JSON values as Render uses them
// (float64 for every number).
type Func func(args ...any) (any, error)

// deleteMarker is what an $if without a matching branch (and $switch,
// $find without a match) renders to: the enclosing object or array drops
// the entry, and a template that renders to it entirely yields null.
type deleteMarkerType struct{}

var deleteMarker = &deleteMarkerType{}

// normalize copies a caller's JSON value into the representation the
// interpreter uses: every number becomes float64.
func normalize(v any, depth int) (any, error) {
	if depth > maxTemplateDepth {
		return nil, templateErr("value nested more than %d levels deep", maxTemplateDepth)
	}
	switch x := v.(type) {
	case nil, bool, string, float64:
		return v, nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, templateErr("invalid number %q", string(x))
		}
		return f, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case float32:
		return float64(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalize(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case Func:
		return &function{name: "function", call: func(_ *renderer, args []any) (any, error) {
			res, err := x(args...)
			if err != nil {
				return nil, &Error{Class: InterpreterError, Message: err.Error(), Err: err}
			}
			return normalize(res, 0)
		}}, nil
	}
	return nil, templateErr("unsupported value of Go type %T; use JSON values (map[string]any, []any, string, float64, bool, nil)", v)
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case *function:
		return "function"
	}
	return "unknown"
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// deepEqual compares two values without a work bound (for tests and
// inputs known to be trees).
func deepEqual(a, b any) bool {
	r := &renderer{steps: math.MaxInt}
	eq, _ := r.equal(a, b)
	return eq
}

// equal is json-e's deep equality. Each node visited is a step: values
// built by a template can share structure ([acc, acc] doubled forty
// times), and comparing them as trees could otherwise take for ever.
func (r *renderer) equal(a, b any) (bool, error) {
	if err := r.step(1); err != nil {
		return false, err
	}
	switch x := a.(type) {
	case nil:
		return b == nil, nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y, nil
	case float64:
		y, ok := b.(float64)
		return ok && x == y, nil
	case string:
		y, ok := b.(string)
		return ok && x == y, nil
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false, nil
		}
		for i := range x {
			if eq, err := r.equal(x[i], y[i]); !eq || err != nil {
				return false, err
			}
		}
		return true, nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false, nil
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok {
				return false, nil
			}
			if eq, err := r.equal(xv, yv); !eq || err != nil {
				return false, err
			}
		}
		return true, nil
	case *function:
		y, ok := b.(*function)
		return ok && x == y, nil
	}
	return false, nil
}

// formatNumber renders a number as JavaScript's Number.prototype.toString
// does (ECMA-262 Number::toString), which is how the reference
// implementation interpolates numbers and writes them in $json: integers
// without a fraction, the shortest digits that round-trip, exponent form
// below 1e-6 and from 1e21.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddddde±XX
	mant, expText, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expText)
	k, n := len(digits), exp+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	s := digits[:1]
	if k > 1 {
		s += "." + digits[1:]
	}
	if n-1 >= 0 {
		return sign + s + "e+" + strconv.Itoa(n-1)
	}
	return sign + s + "e-" + strconv.Itoa(1-n)
}

// appendJSON writes v as JSON.stringify would, with object keys sorted by
// code point (byte order of UTF-8 is code-point order).
func (r *renderer) appendJSON(b *strings.Builder, v any) error {
	if err := r.step(1); err != nil {
		return err
	}
	if b.Len() > maxStringBytes {
		return templateErr("$json result longer than %d bytes", maxStringBytes)
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b.WriteString("null")
		} else {
			b.WriteString(formatNumber(x))
		}
	case string:
		appendJSONString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := r.appendJSON(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := sortedKeys(x)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			appendJSONString(b, k)
			b.WriteByte(':')
			if err := r.appendJSON(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case *function:
		return errUncalledFunctions()
	default:
		return fmt.Errorf("jsone: internal error: value of type %T in $json", v)
	}
	return nil
}

func appendJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func errUncalledFunctions() *Error {
	return templateErr("evaluated template contained uncalled functions")
}

// checkResult refuses a result that is not JSON: one holding a function,
// or NaN or an infinity. Expressions compute with those as JavaScript does
// (sqrt(-1), 10 ** 400, number("x")) and interpolation writes them as
// "NaN" and "Infinity", but a result carrying one is refused, where the
// reference would hand back a value its own JSON encoding turns into null.
// Each node is a step, which also refuses results too large to encode.
func (r *renderer) checkResult(v any) error {
	if err := r.step(1); err != nil {
		return templateErr("result too large: more than %d values", maxSteps)
	}
	switch x := v.(type) {
	case *function:
		return errUncalledFunctions()
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return templateErr("evaluated template contained a number JSON cannot represent (NaN or Infinity)")
		}
	case []any:
		for _, e := range x {
			if err := r.checkResult(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, e := range x {
			if err := r.checkResult(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// runeLen counts code points, as json-e indexes strings by code point.
func runeLen(s string) int { return utf8.RuneCountInString(s) }
