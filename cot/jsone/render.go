package jsone

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits that keep a hostile template from exhausting the process. A real
// .taskcluster.yml is far below all of them.
const (
	// maxTemplateDepth bounds the nesting of template and context values.
	maxTemplateDepth = 1000
	// maxSteps bounds the work of one render: every template node and
	// expression node visited, and every array element built, is a step.
	maxSteps = 5_000_000
	// maxStringBytes bounds any one string a template builds.
	maxStringBytes = 8 << 20
	// maxRangeLength bounds range().
	maxRangeLength = 1 << 20
)

// Render renders template with context. Values are JSON values as
// encoding/json decodes them into `any` (map[string]any, []any,
// string, float64, bool, nil), with json.Number also accepted.
// The built-in `now` (and so `$fromNow` and `fromNow()`) is the current
// time; use RenderAt for a deterministic one.
func Render(template any, context map[string]any) (any, error) {
	return RenderAt(template, context, time.Now())
}

// RenderAt is Render with the built-in `now` fixed to now (a template may
// still override `now` with $let or the context).
//
// Integer types (int, int64, …) are accepted as numbers too; a Func in the
// context is callable from expressions. Every number in the result is a
// float64; inputs are not modified. Errors are *Error. Render and RenderAt
// are safe for concurrent use.
func RenderAt(template any, context map[string]any, now time.Time) (any, error) {
	for k := range context {
		if !isIdentifier(k) {
			return nil, templateErr("top level keys of context must follow /[a-zA-Z_][a-zA-Z0-9_]*/")
		}
	}
	t, err := normalize(template, 0)
	if err != nil {
		return nil, err
	}
	ctx := make(map[string]any, len(context))
	for k, v := range context {
		if ctx[k], err = normalize(v, 0); err != nil {
			return nil, err
		}
	}
	r := &renderer{parsed: map[string]node{}, steps: maxSteps}
	sc := (&scope{vars: builtins(now)}).with(ctx)
	result, err := r.render(t, sc, "template", 0)
	if err != nil {
		return nil, err
	}
	if result == deleteMarker {
		return nil, nil
	}
	// A budget of its own: a result that used up the render's may still
	// be small enough to check.
	r.steps = maxSteps
	if err := r.checkResult(result); err != nil {
		return nil, err
	}
	return result, nil
}

// renderer holds the state of one render.
type renderer struct {
	parsed map[string]node // expressions already parsed, by source
	steps  int             // work left before the render is refused
	// callScope is the scope of the function call being made, which
	// defined() and fromNow() read.
	callScope *scope
}

func (r *renderer) step(n int) error {
	r.steps -= n
	if r.steps < 0 {
		return templateErr("template needs more than %d steps to render; it is too large or loops", maxSteps)
	}
	return nil
}

// stepBytes charges work proportional to the bytes of a string handled.
func (r *renderer) stepBytes(n int) error { return r.step(1 + n/16) }

// locate records where an error happened, once: the innermost location wins.
func locate(err error, path string) error {
	if e, ok := err.(*Error); ok && e.Location == "" {
		e.Location = path
	}
	return err
}

// childKeyPath extends a location by an object key: .key for keys of
// letters and digits (the reference's rule, stricter than an identifier's:
// k_2 is ["k_2"]), ["…"] with JSON quoting otherwise.
func childKeyPath(path, key string) string {
	if pathWord.MatchString(key) {
		return path + "." + key
	}
	var b strings.Builder
	appendJSONString(&b, key)
	return path + "[" + b.String() + "]"
}

var pathWord = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)

type operatorFunc func(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error)

// operator returns the implementation of a $-operator, or nil.
func operator(key string) operatorFunc {
	switch key {
	case "$eval":
		return opEval
	case "$json":
		return opJSON
	case "$if":
		return opIf
	case "$flatten":
		return opFlatten
	case "$flattenDeep":
		return opFlattenDeep
	case "$fromNow":
		return opFromNow
	case "$let":
		return opLet
	case "$map":
		return opMap
	case "$reduce":
		return opReduce
	case "$find":
		return opFind
	case "$match":
		return opMatch
	case "$switch":
		return opSwitch
	case "$merge":
		return opMerge
	case "$mergeDeep":
		return opMergeDeep
	case "$sort":
		return opSort
	case "$reverse":
		return opReverse
	}
	return nil
}

var reservedKey = regexp.MustCompile(`^\$[a-zA-Z][a-zA-Z0-9]*$`)

func (r *renderer) render(t any, sc *scope, path string, depth int) (any, error) {
	if depth > maxTemplateDepth {
		return nil, locate(templateErr("template nested more than %d levels deep", maxTemplateDepth), path)
	}
	if err := r.step(1); err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case string:
		s, err := r.interpolate(x, sc)
		if err != nil {
			return nil, locate(err, path)
		}
		return s, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			v, err := r.render(e, sc, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			if v != deleteMarker {
				out = append(out, v)
			}
		}
		return out, nil
	case map[string]any:
		var op operatorFunc
		for k := range x {
			if f := operator(k); f != nil {
				if op != nil {
					return nil, locate(templateErr("only one operator allowed"), path)
				}
				op = f
			}
		}
		if op != nil {
			v, err := op(r, x, sc, path, depth)
			if err != nil {
				return nil, locate(err, path)
			}
			return v, nil
		}
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			// The value first: the reference reports an error in the value
			// before one in its key.
			v, err := r.render(x[k], sc, childKeyPath(path, k), depth+1)
			if err != nil {
				return nil, err
			}
			if v == deleteMarker {
				continue // dropped before its key is even looked at
			}
			var key string
			switch {
			case strings.HasPrefix(k, "$$"):
				key = k[1:]
			case reservedKey.MatchString(k):
				return nil, locate(templateErr("$<identifier> is reserved; use $$<identifier>"), path)
			default:
				var err error
				if key, err = r.interpolate(k, sc); err != nil {
					return nil, locate(err, path)
				}
			}
			out[key] = v
		}
		return out, nil
	}
	return t, nil
}

// renderOperand renders a value an operator works on. Where the value
// renders to nothing ($if without a matching branch) the operator sees an
// empty object, as in the reference, whose deletion marker is one:
// {$json: {$if: 'false', then: 1}} is "{}".
func (r *renderer) renderOperand(t any, sc *scope, path string, depth int) (any, error) {
	v, err := r.render(t, sc, path, depth)
	if v == deleteMarker {
		return map[string]any{}, err
	}
	return v, err
}

// interpolate replaces each ${expression} in s with its value. A run of
// n ≥ 2 dollars before a brace is an escape and stands for n-1 dollars and
// the brace, uninterpreted.
func (r *renderer) interpolate(s string, sc *scope) (string, error) {
	i := strings.IndexByte(s, '$')
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		n := 0
		for i+n < len(s) && s[i+n] == '$' {
			n++
		}
		switch {
		case i+n >= len(s) || s[i+n] != '{':
			b.WriteString(s[i : i+n])
			s = s[i+n:]
		case n > 1:
			b.WriteString(s[i+1 : i+n+1])
			s = s[i+n+1:]
		default:
			// The expression's source is the rest of the string, so that
			// a lexical error quotes what the reference quotes.
			rest := s[i+2:]
			p, err := newParser(rest, 0)
			if err != nil {
				return "", err
			}
			p.inInterpolation = true
			n, err := p.parse(0)
			if err != nil {
				return "", err
			}
			if p.tok.kind != "}" {
				return "", p.unexpected(expectInfix)
			}
			source := rest[:p.tok.pos]
			v, err := r.eval(n, sc)
			if err != nil {
				return "", err
			}
			switch x := v.(type) {
			case nil:
			case string:
				b.WriteString(x)
			case float64, bool:
				b.WriteString(displayValue(x))
			case *function:
				return "", templateErr("interpolation of '%s' produced a function", source)
			default:
				return "", templateErr("interpolation of '%s' produced an array or object", source)
			}
			s = rest[p.tok.pos+1:]
		}
		if b.Len()+len(s) > maxStringBytes {
			return "", templateErr("string longer than %d bytes", maxStringBytes)
		}
		if err := r.stepBytes(b.Len()); err != nil {
			return "", err
		}
		i = strings.IndexByte(s, '$')
	}
	b.WriteString(s)
	return b.String(), nil
}

// checkProperties refuses keys an operator does not define; allowed
// reports whether a key other than the operator's own is one it takes.
func checkProperties(t map[string]any, op string, allowed func(k string) bool) error {
	var extra []string
	for k := range t {
		if k != op && !allowed(k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return templateErr("%s has undefined properties: %s", op, strings.Join(extra, " "))
}

func only(keys ...string) func(string) bool {
	return func(k string) bool { return slices.Contains(keys, k) }
}

const identPattern = `([a-zA-Z_][a-zA-Z0-9_]*)`

var (
	each12 = regexp.MustCompile(`^each\(` + identPattern + `(?:,\s*` + identPattern + `)?\)$`)
	each23 = regexp.MustCompile(`^each\(` + identPattern + `,\s*` + identPattern + `(?:,\s*` + identPattern + `)?\)$`)
	byVar  = regexp.MustCompile(`^by\(` + identPattern + `\)$`)
)

// eachKey finds the each(…) property matching pattern, and its variables.
func eachKey(t map[string]any, pattern *regexp.Regexp) (key string, vars []string) {
	for k := range t {
		if m := pattern.FindStringSubmatch(k); m != nil {
			for _, v := range m[1:] {
				if v != "" {
					vars = append(vars, v)
				}
			}
			return k, vars
		}
	}
	return "", nil
}

func opEval(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$eval", only()); err != nil {
		return nil, err
	}
	src, ok := t["$eval"].(string)
	if !ok {
		return nil, templateErr("$eval must be given a string expression")
	}
	return r.evalString(src, sc)
}

func opJSON(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$json", only()); err != nil {
		return nil, err
	}
	v, err := r.renderOperand(t["$json"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := r.appendJSON(&b, v); err != nil {
		return nil, err
	}
	return b.String(), nil
}

func opIf(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$if", only("then", "else")); err != nil {
		return nil, err
	}
	src, ok := t["$if"].(string)
	if !ok {
		return nil, templateErr("$if can evaluate string expressions only")
	}
	cond, err := r.evalString(src, sc)
	if err != nil {
		return nil, err
	}
	branch := "else"
	if truthy(cond) {
		branch = "then"
	}
	body, ok := t[branch]
	if !ok {
		return deleteMarker, nil
	}
	return r.render(body, sc, path, depth+1)
}

func opFlatten(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	return flatten(r, t, sc, path, depth, "$flatten", false)
}

func opFlattenDeep(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	return flatten(r, t, sc, path, depth, "$flattenDeep", true)
}

func flatten(r *renderer, t map[string]any, sc *scope, path string, depth int, op string, deep bool) (any, error) {
	if err := checkProperties(t, op, only()); err != nil {
		return nil, err
	}
	v, err := r.renderOperand(t[op], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, templateErr("%s value must evaluate to an array", op)
	}
	out := []any{}
	var add func(items []any, level int) error
	add = func(items []any, level int) error {
		if err := r.step(len(items)); err != nil {
			return err
		}
		for _, e := range items {
			if sub, ok := e.([]any); ok && (deep || level == 0) {
				if err := add(sub, level+1); err != nil {
					return err
				}
				continue
			}
			out = append(out, e)
		}
		return nil
	}
	if err := add(arr, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func opFromNow(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$fromNow", only("from")); err != nil {
		return nil, err
	}
	v, err := r.renderOperand(t["$fromNow"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	offset, ok := v.(string)
	if !ok {
		return nil, templateErr("$fromNow expects a string")
	}
	var from any
	if f, ok := t["from"]; ok {
		if from, err = r.render(f, sc, path, depth+1); err != nil {
			return nil, err
		}
	} else {
		from, _ = sc.lookup("now")
	}
	ref, ok := from.(string)
	if !ok {
		return nil, templateErr("$fromNow expects from (or now) to be a date-time string")
	}
	return fromNow(offset, ref)
}

func opLet(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$let", only("in")); err != nil {
		return nil, err
	}
	v, err := r.renderOperand(t["$let"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	vars, ok := v.(map[string]any)
	if !ok {
		return nil, templateErr("$let value must be an object")
	}
	for k := range vars {
		if !isIdentifier(k) {
			return nil, templateErr("top level keys of $let must follow /[a-zA-Z_][a-zA-Z0-9_]*/")
		}
	}
	body := t["in"]
	if body == nil { // the reference treats in: null as missing
		return nil, templateErr("$let operator requires an `in` clause")
	}
	return r.render(body, sc.with(vars), path, depth+1)
}

func opMap(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$map", each12.MatchString); err != nil {
		return nil, err
	}
	key, vars := eachKey(t, each12)
	if key == "" {
		return nil, templateErr("$map requires an each(identifier) property")
	}
	v, err := r.renderOperand(t["$map"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	body := t[key]
	switch x := v.(type) {
	case []any:
		out := make([]any, 0, len(x))
		for i, e := range x {
			scopeVars := map[string]any{vars[0]: e}
			if len(vars) == 2 {
				scopeVars[vars[1]] = float64(i)
			}
			res, err := r.render(body, sc.with(scopeVars), path, depth+1)
			if err != nil {
				return nil, err
			}
			if res != deleteMarker {
				out = append(out, res)
			}
		}
		return out, nil
	case map[string]any:
		out := map[string]any{}
		for _, k := range sortedKeys(x) {
			var scopeVars map[string]any
			if len(vars) == 2 {
				scopeVars = map[string]any{vars[0]: x[k], vars[1]: k}
			} else {
				scopeVars = map[string]any{vars[0]: map[string]any{"key": k, "val": x[k]}}
			}
			res, err := r.render(body, sc.with(scopeVars), path, depth+1)
			if err != nil {
				return nil, err
			}
			if res == deleteMarker {
				continue
			}
			obj, ok := res.(map[string]any)
			if !ok {
				return nil, templateErr("$map on objects expects each(%s) to evaluate to an object", vars[0])
			}
			if err := r.step(len(obj)); err != nil {
				return nil, err
			}
			for ok, ov := range obj {
				out[ok] = ov
			}
		}
		return out, nil
	}
	return nil, templateErr("$map value must evaluate to an array or object")
}

func opReduce(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$reduce", func(k string) bool { return k == "initial" || each23.MatchString(k) }); err != nil {
		return nil, err
	}
	if len(t) != 3 {
		return nil, templateErr("$reduce must have exactly three properties")
	}
	key, vars := eachKey(t, each23)
	v, err := r.renderOperand(t["$reduce"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, templateErr("$reduce value must evaluate to an array")
	}
	acc, err := r.renderOperand(t["initial"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	for i, e := range arr {
		scopeVars := map[string]any{vars[0]: acc, vars[1]: e}
		if len(vars) == 3 {
			scopeVars[vars[2]] = float64(i)
		}
		res, err := r.render(t[key], sc.with(scopeVars), path, depth+1)
		if err != nil {
			return nil, err
		}
		if res != deleteMarker {
			acc = res
		}
	}
	return acc, nil
}

func opFind(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$find", each12.MatchString); err != nil {
		return nil, err
	}
	key, vars := eachKey(t, each12)
	if key == "" {
		return nil, templateErr("$find requires an each(identifier) property")
	}
	v, err := r.renderOperand(t["$find"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, templateErr("$find value must evaluate to an array")
	}
	src, ok := t[key].(string)
	if !ok {
		return nil, templateErr("each can evaluate string expressions only")
	}
	expr, err := r.parseCached(src)
	if err != nil {
		return nil, err
	}
	for i, e := range arr {
		scopeVars := map[string]any{vars[0]: e}
		if len(vars) == 2 {
			scopeVars[vars[1]] = float64(i)
		}
		res, err := r.eval(expr, sc.with(scopeVars))
		if err != nil {
			return nil, err
		}
		if truthy(res) {
			return e, nil
		}
	}
	return deleteMarker, nil
}

func opMatch(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$match", only()); err != nil {
		return nil, err
	}
	cases, ok := t["$match"].(map[string]any)
	if !ok {
		return nil, templateErr("$match can evaluate objects only")
	}
	out := []any{}
	for _, cond := range sortedKeys(cases) {
		c, err := r.evalString(cond, sc)
		if err != nil {
			return nil, err
		}
		if !truthy(c) {
			continue
		}
		v, err := r.renderOperand(cases[cond], sc, path, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func opSwitch(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$switch", only()); err != nil {
		return nil, err
	}
	cases, ok := t["$switch"].(map[string]any)
	if !ok {
		return nil, templateErr("$switch can evaluate objects only")
	}
	// Each condition in turn; a true one's value is rendered at once, so
	// that errors come in the reference's order.
	var result any
	found := 0
	for _, cond := range sortedKeys(cases) {
		if cond == "$default" {
			continue
		}
		c, err := r.evalString(cond, sc)
		if err != nil {
			return nil, err
		}
		if !truthy(c) {
			continue
		}
		v, err := r.render(cases[cond], sc, path, depth+1)
		if err != nil {
			return nil, err
		}
		result = v
		found++
	}
	switch {
	case found > 1:
		return nil, templateErr("$switch can only have one truthy condition")
	case found == 1:
		return result, nil
	}
	if d, ok := cases["$default"]; ok {
		return r.render(d, sc, path, depth+1)
	}
	return deleteMarker, nil
}

func objectsOf(r *renderer, t map[string]any, sc *scope, path string, depth int, op string) ([]map[string]any, error) {
	if err := checkProperties(t, op, only()); err != nil {
		return nil, err
	}
	v, err := r.renderOperand(t[op], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, templateErr("%s value must evaluate to an array of objects", op)
	}
	objs := make([]map[string]any, len(arr))
	for i, e := range arr {
		if objs[i], ok = e.(map[string]any); !ok {
			return nil, templateErr("%s value must evaluate to an array of objects", op)
		}
	}
	return objs, nil
}

func opMerge(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	objs, err := objectsOf(r, t, sc, path, depth, "$merge")
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, o := range objs {
		if err := r.step(len(o)); err != nil {
			return nil, err
		}
		for k, v := range o {
			out[k] = v
		}
	}
	return out, nil
}

func opMergeDeep(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	objs, err := objectsOf(r, t, sc, path, depth, "$mergeDeep")
	if err != nil {
		return nil, err
	}
	var out any = map[string]any{}
	for _, o := range objs {
		if out, err = r.mergeDeep(out, o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// mergeDeep merges b into a without changing either: objects merge key by
// key, arrays concatenate, anything else is replaced by b.
func (r *renderer) mergeDeep(a, b any) (any, error) {
	switch y := b.(type) {
	case map[string]any:
		x, ok := a.(map[string]any)
		if !ok {
			return b, nil
		}
		if err := r.step(len(x) + len(y)); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(x)+len(y))
		for k, v := range x {
			out[k] = v
		}
		for k, v := range y {
			if old, ok := out[k]; ok {
				merged, err := r.mergeDeep(old, v)
				if err != nil {
					return nil, err
				}
				out[k] = merged
			} else {
				out[k] = v
			}
		}
		return out, nil
	case []any:
		x, ok := a.([]any)
		if !ok {
			return b, nil
		}
		if err := r.step(len(x) + len(y)); err != nil {
			return nil, err
		}
		return append(append(make([]any, 0, len(x)+len(y)), x...), y...), nil
	}
	return b, nil
}

func opSort(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$sort", byVar.MatchString); err != nil {
		return nil, err
	}
	v, err := r.renderOperand(t["$sort"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, templateErr("$sorted values to be sorted must have the same type")
	}
	keys := arr
	if key, vars := eachKey(t, byVar); key != "" {
		src, ok := t[key].(string)
		if !ok {
			return nil, templateErr("$sort by(%s) must be a string expression", vars[0])
		}
		expr, err := r.parseCached(src)
		if err != nil {
			return nil, err
		}
		keys = make([]any, len(arr))
		for i, e := range arr {
			if keys[i], err = r.eval(expr, sc.with(map[string]any{vars[0]: e})); err != nil {
				return nil, err
			}
		}
	}
	if err := r.step(len(arr)); err != nil {
		return nil, err
	}
	type pair struct{ key, value any }
	pairs := make([]pair, len(arr))
	kind := ""
	for i := range arr {
		k := typeOf(keys[i])
		if (k != "number" && k != "string") || (kind != "" && k != kind) {
			return nil, templateErr("$sorted values to be sorted must have the same type")
		}
		kind = k
		pairs[i] = pair{keys[i], arr[i]}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int {
		if kind == "number" {
			return cmpFloat(a.key.(float64), b.key.(float64))
		}
		return strings.Compare(a.key.(string), b.key.(string))
	})
	out := make([]any, len(pairs))
	for i, p := range pairs {
		out[i] = p.value
	}
	return out, nil
}

func opReverse(r *renderer, t map[string]any, sc *scope, path string, depth int) (any, error) {
	if err := checkProperties(t, "$reverse", only()); err != nil {
		return nil, err
	}
	v, err := r.renderOperand(t["$reverse"], sc, path, depth+1)
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, templateErr("$reverse value must evaluate to an array of objects")
	}
	out := make([]any, len(arr))
	for i, e := range arr {
		out[len(arr)-1-i] = e
	}
	return out, nil
}
