package jsone

import (
	"slices"
	"strconv"
	"strings"
)

// Token kinds. Punctuators are their own text as kind.
const (
	tkNumber     = "number"
	tkString     = "string"
	tkIdentifier = "identifier"
	tkEOF        = "end"
)

type token struct {
	kind string // tkNumber, tkString, tkIdentifier, a keyword, or the punctuator itself
	text string // source text ("'abc'" keeps its quotes)
	pos  int    // byte offset in the source
}

// punctuators, two-character ones first so that the longest wins.
var punctuators = []string{
	"**", "==", "!=", "<=", ">=", "&&", "||",
	"!", "(", ")", "[", "]", "{", "}", ":", ",", "+", "-", "*", "/", ".", "<", ">",
}

var keywords = map[string]bool{"true": true, "false": true, "null": true, "in": true}

// lexer splits an expression into tokens on demand, so that an
// interpolation can stop at its closing brace and hand the rest back.
type lexer struct {
	src string
	pos int
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// isIdentifier reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

func (l *lexer) next() (token, error) {
	for l.pos < len(l.src) && strings.IndexByte(" \t\r\n", l.src[l.pos]) >= 0 {
		l.pos++
	}
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tkEOF, pos: start}, nil
	}
	c := l.src[start]
	switch {
	case isDigit(c):
		i := start
		for i < len(l.src) && isDigit(l.src[i]) {
			i++
		}
		if i+1 < len(l.src) && l.src[i] == '.' && isDigit(l.src[i+1]) {
			i++
			for i < len(l.src) && isDigit(l.src[i]) {
				i++
			}
		}
		l.pos = i
		return token{kind: tkNumber, text: l.src[start:i], pos: start}, nil
	case isIdentStart(c):
		i := start
		for i < len(l.src) && isIdentChar(l.src[i]) {
			i++
		}
		l.pos = i
		text := l.src[start:i]
		if keywords[text] {
			return token{kind: text, text: text, pos: start}, nil
		}
		return token{kind: tkIdentifier, text: text, pos: start}, nil
	case c == '"' || c == '\'':
		end := strings.IndexByte(l.src[start+1:], c)
		if end < 0 {
			return token{}, syntaxErr("Unexpected input for '%s' at '%s'", l.src, l.src[start:])
		}
		l.pos = start + 1 + end + 1
		return token{kind: tkString, text: l.src[start:l.pos], pos: start}, nil
	}
	for _, p := range punctuators {
		if strings.HasPrefix(l.src[start:], p) {
			l.pos = start + len(p)
			return token{kind: p, text: p, pos: start}, nil
		}
	}
	return token{}, syntaxErr("Unexpected input for '%s' at '%s'", l.src, l.src[start:])
}

// Expression syntax tree.
type node interface{}

type (
	literalNode struct{ value any }
	identNode   struct{ name string }
	unaryNode   struct {
		op      string
		operand node
	}
	binaryNode struct {
		op          string
		left, right node
	}
	dotNode struct {
		object node
		name   string
	}
	indexNode struct {
		object node
		index  node
	}
	sliceNode struct {
		object     node
		start, end node // nil when omitted
	}
	callNode struct {
		callee node
		args   []node
	}
	arrayNode  struct{ items []node }
	objectNode struct {
		keys   []string
		values []node
	}
)

// Binding powers of the infix operators, loosest first; ** is the only
// right-associative one. Unary operators bind tighter than all of them
// (-2 ** 2 is 4) and, as in the reference implementation, tighter than
// . [ ( too: -a.b is (-a).b and !defined('x') calls the boolean !defined.
var infixPower = map[string]int{
	"||": 1, "&&": 2, "in": 3, "==": 4, "!=": 4,
	"<": 5, ">": 5, "<=": 5, ">=": 5, "+": 6, "-": 6, "*": 7, "/": 7, "**": 8,
}

const (
	expectPrefix = "!, (, +, -, [, false, identifier, null, number, string, true, {"
	expectInfix  = "!=, &&, (, *, **, +, -, ., /, <, <=, ==, >, >=, [, in, ||"
	// maxExprDepth bounds the parser's recursion, so that hostile input
	// ("((((…") fails with a SyntaxError instead of exhausting the stack.
	maxExprDepth = 256
)

type parser struct {
	lex   lexer
	tok   token
	prev  string // kind of the token before tok
	depth int
	// inInterpolation makes end of input report an unterminated ${..}.
	inInterpolation bool
}

func newParser(src string, pos int) (*parser, error) {
	p := &parser{lex: lexer{src: src, pos: pos}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parser) advance() error {
	p.prev = p.tok.kind
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) unexpected(expected string) error {
	if p.tok.kind == tkEOF {
		if p.inInterpolation {
			return syntaxErr("unterminated ${..} expression")
		}
		return syntaxErr("Unexpected end of input")
	}
	return syntaxErr("Found: %s token, expected one of: %s", p.tok.text, expected)
}

func (p *parser) expect(kind string) error {
	if p.tok.kind != kind {
		return p.unexpected(kind)
	}
	return p.advance()
}

// parseExpression parses a whole expression: nothing may follow it.
func parseExpression(src string) (node, error) {
	p, err := newParser(src, 0)
	if err != nil {
		return nil, err
	}
	n, err := p.parse(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tkEOF {
		return nil, p.unexpected(expectInfix)
	}
	return n, nil
}

func (p *parser) parse(minPower int) (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, syntaxErr("expression nested more than %d levels deep", maxExprDepth)
	}
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if left, err = p.parsePostfix(left); err != nil {
		return nil, err
	}
	for {
		op := p.tok.kind
		power, ok := infixPower[op]
		if !ok || power <= minPower {
			return left, nil
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		rightMin := power
		if op == "**" {
			rightMin = power - 1
		}
		right, err := p.parse(rightMin)
		if err != nil {
			return nil, err
		}
		left = &binaryNode{op: op, left: left, right: right}
	}
}

func (p *parser) parseUnary() (node, error) {
	switch p.tok.kind {
	case "!", "-", "+":
		op := p.tok.kind
		if err := p.advance(); err != nil {
			return nil, err
		}
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxExprDepth {
			return nil, syntaxErr("expression nested more than %d levels deep", maxExprDepth)
		}
		operand, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{op: op, operand: operand}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (node, error) {
	t := p.tok
	switch t.kind {
	case tkNumber:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, syntaxErr("invalid number %s", t.text)
		}
		return &literalNode{value: f}, p.advance()
	case tkString:
		return &literalNode{value: t.text[1 : len(t.text)-1]}, p.advance()
	case "true":
		return &literalNode{value: true}, p.advance()
	case "false":
		return &literalNode{value: false}, p.advance()
	case "null":
		return &literalNode{value: nil}, p.advance()
	case tkIdentifier:
		return &identNode{name: t.text}, p.advance()
	case "(":
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.parse(0)
		if err != nil {
			return nil, err
		}
		return n, p.expect(")")
	case "[":
		return p.parseArray()
	case "{":
		return p.parseObject()
	}
	if _, infix := infixPower[p.prev]; infix || p.prev == "!" || p.prev == "" {
		// The reference's wording at the start and after an operator: it
		// lists what could have continued an expression instead.
		return nil, p.unexpected(expectInfix)
	}
	return nil, p.unexpected(expectPrefix)
}

func (p *parser) parseArray() (node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	a := &arrayNode{}
	if p.tok.kind == "]" {
		return a, p.advance()
	}
	for {
		item, err := p.parse(0)
		if err != nil {
			return nil, err
		}
		a.items = append(a.items, item)
		if p.tok.kind != "," {
			return a, p.expect("]")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
}

// parseObject parses {key: value, …}; keys are identifiers or strings,
// and a trailing comma is allowed, as in the reference implementation.
func (p *parser) parseObject() (node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	o := &objectNode{}
	for p.tok.kind != "}" {
		var key string
		switch p.tok.kind {
		case tkIdentifier:
			key = p.tok.text
		case tkString:
			key = p.tok.text[1 : len(p.tok.text)-1]
		default:
			return nil, p.unexpected("}")
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		value, err := p.parse(0)
		if err != nil {
			return nil, err
		}
		// A repeated key replaces the earlier one's expression, which is
		// then never evaluated (as in the reference).
		if i := slices.Index(o.keys, key); i >= 0 {
			o.values[i] = value
		} else {
			o.keys = append(o.keys, key)
			o.values = append(o.values, value)
		}
		if p.tok.kind != "," {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	return o, p.expect("}")
}

func (p *parser) parsePostfix(n node) (node, error) {
	for {
		switch p.tok.kind {
		case ".":
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tkIdentifier {
				return nil, p.unexpected("identifier")
			}
			n = &dotNode{object: n, name: p.tok.text}
			if err := p.advance(); err != nil {
				return nil, err
			}
		case "[":
			var err error
			if n, err = p.parseIndex(n); err != nil {
				return nil, err
			}
		case "(":
			if err := p.advance(); err != nil {
				return nil, err
			}
			c := &callNode{callee: n}
			if p.tok.kind != ")" {
				for {
					arg, err := p.parse(0)
					if err != nil {
						return nil, err
					}
					c.args = append(c.args, arg)
					if p.tok.kind != "," {
						break
					}
					if err := p.advance(); err != nil {
						return nil, err
					}
				}
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			n = c
		default:
			return n, nil
		}
	}
}

// parseIndex parses [i], [a:b], [a:], [:b] and [:].
func (p *parser) parseIndex(object node) (node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	var start node
	if p.tok.kind != ":" {
		var err error
		if start, err = p.parse(0); err != nil {
			return nil, err
		}
		if p.tok.kind != ":" {
			return &indexNode{object: object, index: start}, p.expect("]")
		}
	}
	if err := p.advance(); err != nil { // the colon
		return nil, err
	}
	var end node
	if p.tok.kind != "]" {
		var err error
		if end, err = p.parse(0); err != nil {
			return nil, err
		}
	}
	return &sliceNode{object: object, start: start, end: end}, p.expect("]")
}
