package jsone

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// builtins returns the outermost scope: the functions and the `now`
// variable every template sees unless the context overrides them.
func builtins(now time.Time) map[string]any {
	b := map[string]any{"now": formatTime(now)}
	def := func(name string, call func(r *renderer, args []any) (any, error)) {
		b[name] = &function{name: name, call: call}
	}
	numeric := func(name string, f func(float64) float64) {
		def(name, func(_ *renderer, args []any) (any, error) {
			if len(args) != 1 {
				return nil, builtinErr(name)
			}
			x, ok := args[0].(float64)
			if !ok {
				return nil, builtinErr(name)
			}
			return f(x), nil
		})
	}
	numeric("sqrt", math.Sqrt)
	numeric("ceil", math.Ceil)
	numeric("floor", math.Floor)
	numeric("abs", math.Abs)
	extreme := func(name string, better func(a, b float64) bool) {
		def(name, func(_ *renderer, args []any) (any, error) {
			if len(args) == 0 {
				return nil, &Error{Class: BuiltinError, Message: "invalid arguments to builtin: " + name + ": expected at least 1 arguments"}
			}
			var best float64
			for i, a := range args {
				x, ok := a.(float64)
				if !ok {
					return nil, builtinErr(name)
				}
				if i == 0 || better(x, best) || math.IsNaN(x) {
					best = x
				}
				if math.IsNaN(best) {
					best = math.NaN() // NaN wins, as in Math.min and Math.max
				}
			}
			return best, nil
		})
	}
	extreme("min", func(a, b float64) bool { return a < b })
	extreme("max", func(a, b float64) bool { return a > b })

	stringFn := func(name string, f func(string) string) {
		def(name, func(r *renderer, args []any) (any, error) {
			if len(args) != 1 {
				return nil, builtinErr(name)
			}
			s, ok := args[0].(string)
			if !ok {
				return nil, builtinErr(name)
			}
			if err := r.stepBytes(len(s)); err != nil {
				return nil, err
			}
			res := f(s)
			if len(res) > maxStringBytes {
				return nil, templateErr("string longer than %d bytes", maxStringBytes)
			}
			return res, nil
		})
	}
	// Full Unicode case mapping, as JavaScript's toLowerCase and
	// toUpperCase do (ß is SS, a final Σ is ς); strings.ToUpper maps rune
	// by rune. A Caser keeps state, so each call makes its own.
	stringFn("lowercase", func(s string) string { return cases.Lower(language.Und).String(s) })
	stringFn("uppercase", func(s string) string { return cases.Upper(language.Und).String(s) })
	stringFn("strip", func(s string) string { return strings.TrimFunc(s, isJSSpace) })
	stringFn("lstrip", func(s string) string { return strings.TrimLeftFunc(s, isJSSpace) })
	stringFn("rstrip", func(s string) string { return strings.TrimRightFunc(s, isJSSpace) })

	def("len", func(r *renderer, args []any) (any, error) {
		if len(args) != 1 {
			return nil, builtinErr("len")
		}
		if s, ok := args[0].(string); ok {
			if err := r.stepBytes(len(s)); err != nil {
				return nil, err
			}
		}
		switch x := args[0].(type) {
		case string:
			return float64(runeLen(x)), nil
		case []any:
			return float64(len(x)), nil
		}
		return nil, builtinErr("len")
	})
	def("str", func(_ *renderer, args []any) (any, error) {
		if len(args) != 1 {
			return nil, builtinErr("str")
		}
		switch x := args[0].(type) {
		case nil:
			return "null", nil
		case string, float64, bool:
			return displayValue(x), nil
		}
		return nil, builtinErr("str")
	})
	def("number", func(_ *renderer, args []any) (any, error) {
		if len(args) != 1 {
			return nil, builtinErr("number")
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, builtinErr("number")
		}
		return parseJSNumber(s), nil
	})
	def("split", func(r *renderer, args []any) (any, error) {
		if len(args) != 2 {
			return nil, builtinErr("split")
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, builtinErr("split")
		}
		var sep string
		switch x := args[1].(type) {
		case string:
			sep = x
		case float64:
			sep = formatNumber(x)
		default:
			return nil, builtinErr("split")
		}
		if err := r.stepBytes(len(s)); err != nil {
			return nil, err
		}
		parts := strings.Split(s, sep)
		if err := r.step(len(parts)); err != nil {
			return nil, err
		}
		if s == "" && sep == "" {
			parts = nil // JavaScript: "".split("") is []
		}
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	})
	def("join", func(r *renderer, args []any) (any, error) {
		if len(args) != 2 {
			return nil, builtinErr("join")
		}
		arr, ok := args[0].([]any)
		if !ok {
			return nil, builtinErr("join")
		}
		var sep string
		switch x := args[1].(type) {
		case string:
			sep = x
		case float64:
			sep = formatNumber(x)
		default:
			return nil, builtinErr("join")
		}
		if err := r.step(len(arr)); err != nil {
			return nil, err
		}
		size := len(sep) * len(arr)
		parts := make([]string, len(arr))
		for i, e := range arr {
			switch x := e.(type) {
			case string:
				parts[i] = x
			case float64:
				parts[i] = formatNumber(x)
			default:
				// The reference stringifies anything here (null as "",
				// arrays comma-joined); json-e documents strings and
				// numbers only, so anything else is refused.
				return nil, builtinErr("join")
			}
			size += len(parts[i])
		}
		if size > maxStringBytes {
			return nil, templateErr("string longer than %d bytes", maxStringBytes)
		}
		if err := r.stepBytes(size); err != nil {
			return nil, err
		}
		return strings.Join(parts, sep), nil
	})
	def("fromNow", func(r *renderer, args []any) (any, error) {
		if len(args) < 1 || len(args) > 2 {
			return nil, builtinErr("fromNow")
		}
		offset, ok := args[0].(string)
		if !ok {
			return nil, builtinErr("fromNow")
		}
		var from any
		if len(args) == 2 {
			from = args[1]
		} else {
			from, _ = r.callScope.lookup("now")
		}
		ref, ok := from.(string)
		if !ok {
			return nil, builtinErr("fromNow")
		}
		return fromNow(offset, ref)
	})
	def("typeof", func(_ *renderer, args []any) (any, error) {
		if len(args) != 1 {
			return nil, builtinErr("typeof")
		}
		return typeOf(args[0]), nil
	})
	def("defined", func(r *renderer, args []any) (any, error) {
		if len(args) != 1 {
			return nil, builtinErr("defined")
		}
		name, ok := args[0].(string)
		if !ok {
			return nil, builtinErr("defined")
		}
		_, found := r.callScope.lookup(name)
		return found, nil
	})
	def("range", func(r *renderer, args []any) (any, error) {
		if len(args) < 2 || len(args) > 3 {
			return nil, builtinErr("range")
		}
		var n [3]int
		n[2] = 1
		for i, a := range args {
			v, ok := isInteger(a)
			if !ok {
				return nil, builtinErr("range")
			}
			n[i] = v
		}
		start, end, step := n[0], n[1], n[2]
		if step == 0 && start < end {
			// It would never end; otherwise it is empty, as in the reference.
			return nil, builtinErr("range")
		}
		count := 0
		if step > 0 && end > start {
			count = (end - start + step - 1) / step
		} else if step < 0 && end < start {
			count = (start - end - step - 1) / -step
		}
		if count > maxRangeLength {
			return nil, templateErr("range of %d elements exceeds the limit of %d", count, maxRangeLength)
		}
		if err := r.step(count); err != nil {
			return nil, err
		}
		out := make([]any, count)
		for i := range out {
			out[i] = float64(start + i*step)
		}
		return out, nil
	})
	return b
}

// isJSSpace is JavaScript's WhiteSpace and LineTerminator, which trim()
// removes: Unicode spaces plus the byte order mark.
func isJSSpace(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

var jsNumber = regexp.MustCompile(`^[+-]?(Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)$`)

// parseJSNumber converts a string as JavaScript's Number() does: NaN for a
// string that is not a number.
func parseJSNumber(s string) float64 {
	s = strings.TrimFunc(s, isJSSpace)
	if s == "" {
		return 0
	}
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			digits := s[2:]
			if strings.Contains(digits, "_") {
				return math.NaN()
			}
			u, err := strconv.ParseUint(digits, base, 64)
			if err != nil {
				return math.NaN()
			}
			return float64(u)
		}
	}
	if !jsNumber.MatchString(s) {
		return math.NaN()
	}
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return math.NaN()
	}
	return f
}
