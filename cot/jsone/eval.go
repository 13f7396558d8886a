package jsone

import (
	"math"
	"math/big"
	"strings"
)

// scope is one level of variables; lookups walk from the innermost
// ($let, $map's each…) out to the context and then the built-ins.
type scope struct {
	vars   map[string]any
	parent *scope
}

func (s *scope) lookup(name string) (any, bool) {
	for ; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

func (s *scope) with(vars map[string]any) *scope { return &scope{vars: vars, parent: s} }

func (r *renderer) evalString(src string, sc *scope) (any, error) {
	n, err := r.parseCached(src)
	if err != nil {
		return nil, err
	}
	return r.eval(n, sc)
}

func (r *renderer) parseCached(src string) (node, error) {
	if n, ok := r.parsed[src]; ok {
		return n, nil
	}
	n, err := parseExpression(src)
	if err != nil {
		return nil, err
	}
	if len(r.parsed) < 4096 {
		r.parsed[src] = n
	}
	return n, nil
}

func (r *renderer) eval(n node, sc *scope) (any, error) {
	if err := r.step(1); err != nil {
		return nil, err
	}
	switch n := n.(type) {
	case *literalNode:
		return n.value, nil
	case *identNode:
		v, ok := sc.lookup(n.name)
		if !ok {
			return nil, interpErr("unknown context value %s", n.name)
		}
		return v, nil
	case *unaryNode:
		v, err := r.eval(n.operand, sc)
		if err != nil {
			return nil, err
		}
		switch n.op {
		case "!":
			return !truthy(v), nil
		case "-":
			f, ok := v.(float64)
			if !ok {
				return nil, interpErr("unary - expects number")
			}
			return -f, nil
		default:
			f, ok := v.(float64)
			if !ok {
				return nil, interpErr("unary + expects number")
			}
			return f, nil
		}
	case *binaryNode:
		return r.evalBinary(n, sc)
	case *dotNode:
		v, err := r.eval(n.object, sc)
		if err != nil {
			return nil, err
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, interpErr("infix: . expects objects")
		}
		prop, ok := obj[n.name]
		if !ok {
			return nil, interpErr("object has no property %q", n.name)
		}
		return prop, nil
	case *indexNode:
		v, err := r.eval(n.object, sc)
		if err != nil {
			return nil, err
		}
		idx, err := r.eval(n.index, sc)
		if err != nil {
			return nil, err
		}
		if str, ok := v.(string); ok {
			if err := r.stepBytes(len(str)); err != nil {
				return nil, err
			}
		}
		return index(v, idx)
	case *sliceNode:
		return r.evalSlice(n, sc)
	case *callNode:
		callee, err := r.eval(n.callee, sc)
		if err != nil {
			return nil, err
		}
		fn, ok := callee.(*function)
		if !ok { // before the arguments are evaluated, as in the reference
			return nil, interpErr("%s is not callable", displayValue(callee))
		}
		args := make([]any, len(n.args))
		for i, a := range n.args {
			if args[i], err = r.eval(a, sc); err != nil {
				return nil, err
			}
		}
		r.callScope = sc
		return fn.call(r, args)
	case *arrayNode:
		out := make([]any, len(n.items))
		for i, item := range n.items {
			v, err := r.eval(item, sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *objectNode:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			v, err := r.eval(n.values[i], sc)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	return nil, interpErr("internal error: unknown expression node %T", n)
}

// displayValue names a value in an error message as JavaScript's String()
// would, which is what the reference prints for "… is not callable".
func displayValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case float64:
		return formatNumber(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case map[string]any:
		return "[object Object]"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if e != nil {
				parts[i] = displayValue(e)
			}
		}
		return strings.Join(parts, ",")
	}
	return typeOf(v)
}

func isInteger(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int(f), true
}

func index(v, idx any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		k, ok := idx.(string)
		if !ok {
			return nil, interpErr("object keys must be strings")
		}
		return x[k], nil // a missing key is null with [..], unlike with .
	case []any:
		i, err := elementIndex(idx, len(x))
		if err != nil {
			return nil, err
		}
		return x[i], nil
	case string:
		runes := []rune(x)
		i, err := elementIndex(idx, len(runes))
		if err != nil {
			return nil, err
		}
		return string(runes[i]), nil
	}
	return nil, interpErr(`infix: "[..]" expects object, array, or string`)
}

// elementIndex turns an index into a position, by the reference's rules: a
// negative index counts from the end and stops at the first element
// ([1, 2][-5] is 1), and only then must be an integer.
func elementIndex(idx any, length int) (int, error) {
	f, ok := idx.(float64)
	if !ok {
		return 0, interpErr("should only use integers to access arrays or strings")
	}
	if f < 0 {
		f = math.Max(f+float64(length), 0)
	}
	i, ok := isInteger(f)
	if !ok {
		return 0, interpErr("should only use integers to access arrays or strings")
	}
	if i >= length {
		return 0, interpErr("index out of bounds")
	}
	return i, nil
}

func (r *renderer) evalSlice(n *sliceNode, sc *scope) (any, error) {
	v, err := r.eval(n.object, sc)
	if err != nil {
		return nil, err
	}
	var bounds [2]any
	for i, b := range []node{n.start, n.end} {
		if b == nil {
			continue
		}
		if bounds[i], err = r.eval(b, sc); err != nil {
			return nil, err
		}
	}
	var length int
	var runes []rune
	switch x := v.(type) {
	case []any:
		length = len(x)
	case string:
		if err := r.stepBytes(len(x)); err != nil {
			return nil, err
		}
		runes = []rune(x)
		length = len(runes)
	case map[string]any:
		return nil, interpErr("object keys must be strings")
	default:
		return nil, interpErr(`infix: "[..]" expects object, array, or string`)
	}
	// Python's rules: negative counts from the end, clamp to the bounds, a
	// backward range is empty.
	clamp := func(b any, dflt int) (int, error) {
		if b == nil {
			return dflt, nil
		}
		i, ok := isInteger(b)
		if !ok {
			return 0, interpErr("cannot perform interval access with non-integers")
		}
		if i < 0 {
			i += length
		}
		return min(max(i, 0), length), nil
	}
	start, err := clamp(bounds[0], 0)
	if err != nil {
		return nil, err
	}
	end, err := clamp(bounds[1], length)
	if err != nil {
		return nil, err
	}
	end = max(end, start)
	if _, ok := v.(string); ok {
		return string(runes[start:end]), nil
	}
	arr := v.([]any)
	return append([]any{}, arr[start:end]...), nil
}

func (r *renderer) evalBinary(n *binaryNode, sc *scope) (any, error) {
	if n.op == "**" {
		// The reference evaluates the exponent first (its errors win).
		right, err := r.eval(n.right, sc)
		if err != nil {
			return nil, err
		}
		left, err := r.eval(n.left, sc)
		if err != nil {
			return nil, err
		}
		return r.binaryOp(n.op, left, right)
	}
	left, err := r.eval(n.left, sc)
	if err != nil {
		return nil, err
	}
	switch n.op {
	case "||":
		if truthy(left) {
			return true, nil
		}
		right, err := r.eval(n.right, sc)
		if err != nil {
			return nil, err
		}
		return truthy(right), nil
	case "&&":
		if !truthy(left) {
			return false, nil
		}
		right, err := r.eval(n.right, sc)
		if err != nil {
			return nil, err
		}
		return truthy(right), nil
	}
	right, err := r.eval(n.right, sc)
	if err != nil {
		return nil, err
	}
	return r.binaryOp(n.op, left, right)
}

// binaryOp applies a non-short-circuit infix operator to evaluated operands.
func (r *renderer) binaryOp(op string, left, right any) (any, error) {
	switch op {
	case "==":
		return r.equal(left, right)
	case "!=":
		eq, err := r.equal(left, right)
		return !eq, err
	case "in":
		return r.contains(left, right)
	case "+":
		switch l := left.(type) {
		case float64:
			if rn, ok := right.(float64); ok {
				return finite(l + rn)
			}
		case string:
			if rs, ok := right.(string); ok {
				if len(l)+len(rs) > maxStringBytes {
					return nil, templateErr("string longer than %d bytes", maxStringBytes)
				}
				if err := r.stepBytes(len(l) + len(rs)); err != nil {
					return nil, err
				}
				return l + rs, nil
			}
		}
		return nil, interpErr("infix: + expects numbers/strings + numbers/strings")
	case "<", ">", "<=", ">=":
		var c int
		switch l := left.(type) {
		case float64:
			rn, ok := right.(float64)
			if !ok {
				return nil, interpErr("infix: %s expects numbers/strings %s numbers/strings", op, op)
			}
			// Direct comparisons, so that NaN compares false both ways.
			switch op {
			case "<":
				return l < rn, nil
			case ">":
				return l > rn, nil
			case "<=":
				return l <= rn, nil
			}
			return l >= rn, nil
		case string:
			rs, ok := right.(string)
			if !ok {
				return nil, interpErr("infix: %s expects numbers/strings %s numbers/strings", op, op)
			}
			c = strings.Compare(l, rs)
		default:
			return nil, interpErr("infix: %s expects numbers/strings %s numbers/strings", op, op)
		}
		switch op {
		case "<":
			return c < 0, nil
		case ">":
			return c > 0, nil
		case "<=":
			return c <= 0, nil
		}
		return c >= 0, nil
	}
	l, lok := left.(float64)
	rn, rok := right.(float64)
	if !lok || !rok {
		return nil, interpErr("infix: %s expects number %s number", op, op)
	}
	switch op {
	case "-":
		return finite(l - rn)
	case "*":
		return finite(l * rn)
	case "/":
		if rn == 0 {
			return nil, interpErr("division by zero")
		}
		return finite(l / rn)
	case "**":
		return pow(l, rn), nil
	}
	return nil, interpErr("internal error: unknown operator %s", op)
}

// pow is x**y rounded correctly for whole exponents up to maxExactPower
// (exactly, with math/big), where Go's math.Pow can be one unit in the last
// place away from JavaScript's Math.pow: 0.16 ** 14 must be
// 7.205759403792796e-12 in both. Other exponents use math.Pow.
func pow(x, y float64) float64 {
	n, ok := isInteger(y)
	if !ok || n == 0 || n > maxExactPower || n < -maxExactPower || x == 0 ||
		math.IsInf(x, 0) || math.IsNaN(x) {
		return math.Pow(x, y)
	}
	neg := n < 0
	if neg {
		n = -n
	}
	// 53 bits per factor keep the product exact.
	prec := uint(53*n + 64)
	result := new(big.Float).SetPrec(prec).SetFloat64(1)
	base := new(big.Float).SetPrec(prec).SetFloat64(x)
	for e := n; e > 0; e >>= 1 {
		if e&1 == 1 {
			result.Mul(result, base)
		}
		if e > 1 {
			base.Mul(base, base)
		}
	}
	if neg {
		result.Quo(new(big.Float).SetPrec(prec).SetFloat64(1), result)
	}
	f, _ := result.Float64()
	return f
}

// maxExactPower bounds the exponents pow computes exactly (their cost
// grows with the square of the exponent).
const maxExactPower = 64

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// finite is where arithmetic results pass; like JavaScript's, they may be
// NaN or infinite (see containsNonFinite for what happens to those).
func finite(f float64) (any, error) { return f, nil }

func (r *renderer) contains(needle, haystack any) (any, error) {
	switch h := haystack.(type) {
	case map[string]any:
		k, ok := needle.(string)
		if !ok {
			return nil, interpErr("Infix: in-object expects string on left side")
		}
		_, found := h[k]
		return found, nil
	case []any:
		for _, e := range h {
			eq, err := r.equal(needle, e)
			if err != nil {
				return nil, err
			}
			if eq {
				return true, nil
			}
		}
		return false, nil
	case string:
		s, ok := needle.(string)
		if !ok {
			return nil, interpErr("Infix: in-string expects string on left side")
		}
		if err := r.stepBytes(len(h)); err != nil {
			return nil, err
		}
		return strings.Contains(h, s), nil
	}
	return nil, interpErr("Infix: in expects Array, string, or object on right side")
}
