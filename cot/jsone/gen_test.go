package jsone

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// templateGen makes random templates and contexts for the differential
// test. It covers every operator, interpolation and escapes, the
// expression grammar and the builtins, and makes errors on purpose (wrong
// types, unknown variables, broken syntax). It stays away from the few
// places where the reference implementation's output is JavaScript
// rather than json-e (see the package documentation's list of
// differences), so that every disagreement it finds is a real one.
type templateGen struct {
	r *rand.Rand
}

var (
	genVars    = []string{"a", "b", "n", "s", "t", "arr", "obj", "nul", "f", "x", "big"}
	genKeys    = []string{"a", "b", "c", "key", "k_2", "x"}
	genStrings = []string{"", "a", "abc", "B", "hello world", "x y", "é☃", "  pad  ", "1", "3.5", "a:b:c", "$", "}", "'"}
)

func (g *templateGen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }
func (g *templateGen) chance(p float64) bool   { return g.r.Float64() < p }

func (g *templateGen) number() float64 {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return float64(g.r.IntN(10))
	case 2:
		return float64(g.r.IntN(200) - 100)
	case 3:
		return float64(g.r.IntN(1000)) / 8
	case 4:
		return float64(g.r.IntN(3))
	}
	return float64(g.r.IntN(5)) - 0.5
}

// value makes a plain JSON value.
func (g *templateGen) value(depth int) any {
	n := 6
	if depth <= 0 {
		n = 4
	}
	switch g.r.IntN(n) {
	case 0:
		return nil
	case 1:
		return g.chance(0.5)
	case 2:
		return g.number()
	case 3:
		return g.pick(genStrings)
	case 4:
		arr := make([]any, g.r.IntN(4))
		for i := range arr {
			arr[i] = g.value(depth - 1)
		}
		return arr
	}
	obj := map[string]any{}
	for range g.r.IntN(4) {
		obj[g.pick(genKeys)] = g.value(depth - 1)
	}
	return obj
}

func (g *templateGen) context() map[string]any {
	return map[string]any{
		"a":   g.number(),
		"b":   g.number(),
		"n":   float64(g.r.IntN(5)),
		"s":   g.pick(genStrings),
		"t":   g.chance(0.5),
		"arr": []any{float64(1), float64(2), g.number(), g.pick(genStrings)},
		"obj": map[string]any{"a": g.number(), "key": g.pick(genStrings), "sub": map[string]any{"x": g.value(1)}},
		"nul": nil,
		"f":   g.value(2),
		"x":   g.value(1),
		// Numbers whose printing differs between languages.
		"big": []float64{1e21, 1.5e-7, 123456789012, 0.1, 1e300, -2.5e-10, 2 << 60, 1e-6, 999999999999999900000}[g.r.IntN(9)],
		// The reference's clock cannot be set, so the context fixes now.
		"now": "2017-01-19T16:27:20.974Z",
	}
}

// expr makes an expression's source text.
func (g *templateGen) expr(depth int) string {
	if depth <= 0 || g.chance(0.3) {
		return g.atom()
	}
	switch g.r.IntN(12) {
	case 0, 1, 2:
		ops := []string{"+", "-", "*", "/", "**", "==", "!=", "<", ">", "<=", ">=", "&&", "||", "in"}
		op := g.pick(ops)
		if op == "**" {
			// Exponents whose result JavaScript's Math.pow rounds
			// correctly; for others it can be a unit in the last place
			// off, and so can we (see pow).
			return g.expr(depth-1) + " ** " + g.pick([]string{"0", "1", "2", "-1", "0.5", "s", "nul"})
		}
		return g.expr(depth-1) + " " + op + " " + g.expr(depth-1)
	case 3:
		return g.pick([]string{"!", "-", "+"}) + g.expr(depth-1)
	case 4:
		return "(" + g.expr(depth-1) + ")"
	case 5:
		return g.call(depth - 1)
	case 6:
		return g.pick([]string{"arr", "s", "obj", "x", "f", "[1, 2, 3]", "'hello'"}) + "[" + g.expr(depth-1) + "]"
	case 7:
		lo, hi := "", ""
		if g.chance(0.7) {
			lo = fmt.Sprint(g.r.IntN(7) - 3)
		}
		if g.chance(0.7) {
			hi = fmt.Sprint(g.r.IntN(7) - 3)
		}
		return g.pick([]string{"arr", "s", "'abcdef'", "x"}) + "[" + lo + ":" + hi + "]"
	case 8:
		return g.pick([]string{"obj", "x", "f", "obj.sub", "a"}) + "." + g.pick(append([]string{"sub"}, genKeys...))
	case 9:
		items := make([]string, g.r.IntN(4))
		for i := range items {
			items[i] = g.expr(depth - 1)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case 10:
		var items []string
		for range g.r.IntN(3) {
			k := g.pick(genKeys)
			if g.chance(0.3) {
				k = `"` + k + `"`
			}
			items = append(items, k+": "+g.expr(depth-1))
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
	return g.expr(depth-1) + " " + g.pick([]string{"==", "&&", "||", "+"}) + " " + g.atom()
}

func (g *templateGen) atom() string {
	switch g.r.IntN(8) {
	case 0:
		return fmt.Sprint(g.r.IntN(20))
	case 1:
		return fmt.Sprintf("%d.%d", g.r.IntN(10), g.r.IntN(100))
	case 2:
		q := g.pick([]string{`"`, `'`})
		s := strings.ReplaceAll(g.pick(genStrings), q, "")
		return q + s + q
	case 3:
		return g.pick([]string{"true", "false", "null"})
	}
	return g.pick(append(genVars, "unknown_var"))
}

func (g *templateGen) call(depth int) string {
	e := func() string { return g.expr(depth) }
	switch g.r.IntN(19) {
	case 0:
		return "min(" + e() + ", " + e() + ")"
	case 1:
		return "max(" + e() + ", " + e() + ", " + e() + ")"
	case 2:
		return g.pick([]string{"sqrt", "ceil", "floor", "abs"}) + "(" + e() + ")"
	case 3:
		return g.pick([]string{"lowercase", "uppercase", "strip", "lstrip", "rstrip"}) + "(" + e() + ")"
	case 4:
		return "len(" + e() + ")"
	case 5:
		return "str(" + e() + ")"
	case 6:
		// Not number() of arbitrary strings: the reference yields NaN.
		return "number(" + g.pick([]string{"'12'", "'-3.5'", "' 7 '", "'0'", "'1e3'", "a"}) + ")"
	case 7:
		return "split(" + e() + ", " + g.pick([]string{"':'", "''", "' '", "1", "a"}) + ")"
	case 8:
		return "join(" + g.pick([]string{"['a', 'b']", "[1, 2, 3]", "[]", "['x', 1]", "s", "a"}) + ", " + g.pick([]string{"','", "''", "2", "s"}) + ")"
	case 9:
		return "fromNow(" + g.pick([]string{"'1 day'", "'2 hours 30 minutes'", "'-1 week'", "''", "'3 mo'", "s"}) + ")"
	case 10:
		return "fromNow('1 hour', " + g.pick([]string{"'2020-02-29T12:00:00.000Z'", "now", "'2017-01-19T16:27:20Z'"}) + ")"
	case 11:
		return "typeof(" + e() + ")"
	case 12:
		return "defined(" + g.pick([]string{"'a'", "'nope'", "'min'", "'now'", "s"}) + ")"
	case 13:
		return fmt.Sprintf("range(%d, %d)", g.r.IntN(5)-1, g.r.IntN(8))
	case 14:
		return fmt.Sprintf("range(%d, %d, %d)", g.r.IntN(10)-3, g.r.IntN(10)-3, g.r.IntN(5)-2)
	case 15:
		return "range(" + e() + ", " + e() + ")"
	case 16:
		return "min(" + e() + ")"
	case 17:
		return "max()"
	}
	return "split(" + e() + ")"
}

// broken damages an expression: cut short, stray token, dangling
// operator. Inside ${…} the last is left out: the reference ignores an
// operator dangling before the closing brace ("${a &&}" renders a).
func (g *templateGen) broken(src string, interpolated bool) string {
	n := 4
	if interpolated {
		n = 3
	}
	switch g.r.IntN(n) {
	case 0:
		if len(src) > 1 {
			return src[:1+g.r.IntN(len(src)-1)]
		}
		return "("
	case 1:
		return src + " " + g.pick([]string{"a", "1", "'x'", ")", "]", "}", ","})
	case 2:
		return g.pick([]string{"*", ")", "]", ",", "==", "."}) + " " + src
	}
	return src + " " + g.pick([]string{"+", "==", "&&", "in"})
}

// danglingOperator reports whether an expression ends in an infix
// operator, which the reference ignores before the brace closing ${…}.
func danglingOperator(src string) bool {
	src = strings.TrimSpace(src)
	for _, op := range []string{"||", "&&", " in", "==", "!=", "<", ">", "+", "-", "*", "/"} {
		if strings.HasSuffix(src, op) {
			return true
		}
	}
	return false
}

// interpolated makes a string template with ${…} parts and escapes.
func (g *templateGen) interpolated(depth int) string {
	var b strings.Builder
	for range 1 + g.r.IntN(3) {
		switch g.r.IntN(6) {
		case 0:
			b.WriteString(g.pick([]string{"text ", "-", "é", "{", "}", "$", " "}))
		case 1:
			b.WriteString(strings.Repeat("$", 2+g.r.IntN(2)) + "{" + g.pick(genVars) + "}")
		case 2:
			if g.chance(0.2) {
				broken := g.broken(g.expr(depth), true)
				if danglingOperator(broken) {
					broken = "(" + broken // still broken, but not in that way
				}
				b.WriteString("${" + broken + "}")
			} else {
				b.WriteString("${" + g.expr(depth) + "}")
			}
		default:
			b.WriteString("${" + g.expr(depth) + "}")
		}
	}
	return b.String()
}

// exprString is an expression, sometimes broken.
func (g *templateGen) exprString(depth int) string {
	e := g.expr(depth)
	if g.chance(0.08) {
		return g.broken(e, false)
	}
	return e
}

// template makes a template of at most the given depth.
func (g *templateGen) template(depth int) any {
	if depth <= 0 {
		if g.chance(0.4) {
			return g.interpolated(1)
		}
		return g.value(1)
	}
	d := depth - 1
	switch g.r.IntN(26) {
	case 0, 1:
		return g.value(2)
	case 2, 3:
		return g.interpolated(2)
	case 4:
		arr := make([]any, g.r.IntN(4))
		for i := range arr {
			arr[i] = g.template(d)
		}
		return arr
	case 5:
		obj := map[string]any{}
		for range g.r.IntN(4) {
			k := g.pick(genKeys)
			switch g.r.IntN(6) {
			case 0:
				k = "k_${" + g.pick([]string{"s", "n", "a"}) + "}"
			case 1:
				k = "$$" + g.pick([]string{"eval", "if", "foo"})
			case 2:
				if g.chance(0.2) {
					k = "$" + g.pick([]string{"nothing", "evl"})
				}
			}
			obj[k] = g.template(d)
		}
		return obj
	case 6, 7:
		if g.chance(0.05) {
			return map[string]any{"$eval": g.value(1)}
		}
		return map[string]any{"$eval": g.exprString(3)}
	case 8:
		t := map[string]any{"$if": g.exprString(2)}
		if g.chance(0.8) {
			t["then"] = g.template(d)
		}
		if g.chance(0.6) {
			t["else"] = g.template(d)
		}
		if g.chance(0.03) {
			t["bogus"] = 1.0
		}
		return t
	case 9:
		return map[string]any{"$json": g.dataTemplate(d)}
	case 10:
		return map[string]any{g.pick([]string{"$flatten", "$flattenDeep"}): g.arrayTemplate(d)}
	case 11:
		t := map[string]any{"$fromNow": g.pick([]string{"1 day", "2 hours 3 minutes", "-1y", "+3 mo", "1 week 2d", "nonsense", "", "1s 1y"})}
		if g.chance(0.3) {
			t["from"] = g.pick([]string{"2020-02-29T12:00:00.000Z", "2017-01-19T16:27:20Z"})
		}
		return t
	case 12:
		vars := map[string]any{}
		for range 1 + g.r.IntN(2) {
			vars[g.pick(append([]string{"y", "z", "a"}, "bad key"[:3+4*g.r.IntN(2)]))] = g.template(1)
		}
		return map[string]any{"$let": vars, "in": g.template(d)}
	case 13:
		t := map[string]any{"$map": g.arrayOrObjectTemplate(d)}
		t[g.pick([]string{"each(y)", "each(y,i)", "each(y, i)"})] = g.template(d)
		return t
	case 14:
		t := map[string]any{"$reduce": g.arrayTemplate(d), "initial": g.value(1)}
		t[g.pick([]string{"each(acc,y)", "each(acc, y, i)"})] = g.reduceBody()
		return t
	case 15:
		t := map[string]any{"$find": g.arrayTemplate(d)}
		t[g.pick([]string{"each(y)", "each(y,i)"})] = g.pick([]string{"y == 2", "y", "i > 0", "typeof(y) == 'string'", "y > 1"})
		return t
	case 16:
		cases := map[string]any{}
		for range 1 + g.r.IntN(3) {
			cases[g.expr(1)] = g.dataTemplate(d)
		}
		return map[string]any{"$match": cases}
	case 17:
		cases := map[string]any{}
		for range 1 + g.r.IntN(3) {
			cases[g.expr(1)] = g.dataTemplate(d)
		}
		if g.chance(0.5) {
			cases["$default"] = g.dataTemplate(d)
		}
		return map[string]any{"$switch": cases}
	case 18:
		return map[string]any{g.pick([]string{"$merge", "$mergeDeep"}): g.objectsTemplate(d)}
	case 19:
		t := map[string]any{"$sort": g.arrayTemplate(d)}
		if g.chance(0.5) {
			t["by(y)"] = g.pick([]string{"y", "str(y)", "y.a", "-y", "len(str(y))"})
		}
		return t
	case 20:
		// Never a context array itself: the reference reverses that in
		// place, so a second $reverse of it sees the first one's result.
		operands := []any{
			map[string]any{"$eval": "[3, 1, 2]"}, map[string]any{"$eval": "arr[1:]"},
			[]any{g.template(d), g.number(), g.value(1)}, g.value(1),
		}
		return map[string]any{"$reverse": operands[g.r.IntN(len(operands))]}
	case 21:
		return map[string]any{"$eval": g.call(2)}
	}
	return map[string]any{"$eval": g.expr(3)}
}

// dataTemplate is a template that never renders to "nothing", for the
// places where the reference serializes its internal deletion marker
// ($json, $match).
func (g *templateGen) dataTemplate(depth int) any {
	t := g.template(depth)
	if m, ok := t.(map[string]any); ok {
		for _, op := range []string{"$if", "$switch", "$find"} {
			if _, ok := m[op]; ok {
				return g.value(1)
			}
		}
	}
	return t
}

func (g *templateGen) arrayTemplate(depth int) any {
	switch g.r.IntN(6) {
	case 0:
		return map[string]any{"$eval": g.pick([]string{"arr", "range(0, 5)", "[3, 1, 2]", "['b', 'a', 'c']", "[[1, [2]], [3], 4]", "x", "obj"})}
	case 1:
		return g.template(depth)
	case 2:
		return g.value(1)
	}
	arr := make([]any, g.r.IntN(5))
	for i := range arr {
		if g.chance(0.5) {
			arr[i] = g.number()
		} else {
			arr[i] = g.template(depth - 1)
		}
	}
	return arr
}

func (g *templateGen) arrayOrObjectTemplate(depth int) any {
	if g.chance(0.3) {
		obj := map[string]any{}
		for range g.r.IntN(4) {
			obj[g.pick(genKeys)] = g.value(1)
		}
		return obj
	}
	return g.arrayTemplate(depth)
}

func (g *templateGen) objectsTemplate(depth int) any {
	if g.chance(0.15) {
		return g.arrayTemplate(depth)
	}
	arr := make([]any, g.r.IntN(4))
	for i := range arr {
		obj := map[string]any{}
		for range g.r.IntN(3) {
			if g.chance(0.3) {
				obj[g.pick(genKeys)] = map[string]any{g.pick(genKeys): g.value(1)}
			} else {
				obj[g.pick(genKeys)] = g.template(depth - 1)
			}
		}
		arr[i] = obj
	}
	return arr
}

func (g *templateGen) reduceBody() any {
	switch g.r.IntN(4) {
	case 0:
		return map[string]any{"$eval": g.pick([]string{"acc + y", "acc + 1", "[acc, y]", "acc || y", "y"})}
	case 1:
		return "${acc}${y}"
	case 2:
		return map[string]any{"$if": "y", "then": map[string]any{"$eval": "acc"}}
	}
	return map[string]any{"$merge": []any{map[string]any{"$eval": "{v: acc}"}, map[string]any{"k": map[string]any{"$eval": "y"}}}}
}
