package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem of a configuration file: where it is and why.
type Error struct {
	File  string // "" when parsed from bytes
	Line  int    // 0 when the field is missing altogether
	Field string // e.g. "principals[2].certificate.ca"; "" for the whole file
	Err   error
}

// Error reads FILE:LINE: WHY, as compilers write it; WHY names the field.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	case e.File != "":
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors are every problem found in a configuration, in the order of the
// file (missing fields first).
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// problems are what the checks find, by field path, before they are
// located in the file.
type problems []problem

type problem struct {
	field string
	err   error
}

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, problem{field, fmt.Errorf(format, args...)})
}

// locate turns problems into Errors with the lines of their fields.
func (c *Config) locate(ps problems) Errors {
	out := make(Errors, len(ps))
	for i, p := range ps {
		out[i] = c.errorAt(p.field, p.err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// errorAt returns err located at field.
func (c *Config) errorAt(field string, err error) *Error {
	e := &Error{File: c.file, Field: field, Err: err}
	if c.root != nil {
		e.Line = lineOf(c.root, field)
	}
	return e
}

// lineOf returns the line of the field at path ("tls.client_cas[1]") in
// the document root, or of the nearest enclosing field present: a
// missing field is reported where it belongs.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, step := range splitPath(path) {
		switch {
		case step.index >= 0:
			if n.Kind != yaml.SequenceNode || step.index >= len(n.Content) {
				return line
			}
			n = n.Content[step.index]
			line = n.Line
		default:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == step.name {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line // the enclosing field's; none at the top
			}
		}
	}
	return line
}

type pathStep struct {
	name  string
	index int // -1 for a field name
}

var indexRE = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// splitPath splits "a.b[2].c" into a, b, [2], c.
func splitPath(path string) []pathStep {
	var out []pathStep
	if path == "" {
		return nil
	}
	for _, part := range strings.Split(path, ".") {
		var idx []int
		for {
			m := indexRE.FindStringSubmatch(part)
			if m == nil {
				break
			}
			i, _ := strconv.Atoi(m[2])
			idx = append([]int{i}, idx...)
			part = m[1]
		}
		if part != "" {
			out = append(out, pathStep{name: part, index: -1})
		}
		for _, i := range idx {
			out = append(out, pathStep{index: i})
		}
	}
	return out
}

// fieldAt is a field whose key, or whose value alone, is on a line.
type fieldAt struct {
	path  string
	value *yaml.Node
	key   bool // the key is on the line, not only the value
}

// fieldsAt returns the fields on line, outermost first: several when
// they are written in flow style, {a: 1, b: {c: 2}}.
func fieldsAt(root *yaml.Node, line int) []fieldAt {
	var out []fieldAt
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				if v := n.Content[i+1]; n.Content[i].Line == line {
					out = append(out, fieldAt{p, v, true})
				} else if v.Kind == yaml.ScalarNode && v.Line == line {
					out = append(out, fieldAt{p, v, false}) // a value on a line of its own
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Kind == yaml.ScalarNode && c.Line == line {
					out = append(out, fieldAt{p, c, false})
				}
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return out
}

// pathAt returns the path of the field an error on line is about: the
// one named (unknown fields), or holding the value the error quotes, or
// the first whose key is on the line.
func pathAt(root *yaml.Node, line int, name, value string) string {
	fields := fieldsAt(root, line)
	for _, f := range fields {
		last := f.path[strings.LastIndex(f.path, ".")+1:]
		if name != "" && f.key && last == name || value != "" && f.value.Kind == yaml.ScalarNode && f.value.Value == value {
			return f.path
		}
	}
	for _, f := range fields {
		if f.key {
			return f.path
		}
	}
	if len(fields) > 0 {
		return fields[0].path
	}
	return ""
}

var (
	lineRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	typeRE    = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// decodeErrors turns the decoder's errors ("line 7: field listn not found
// in type config.Config") into located, readable Errors.
func decodeErrors(file string, root *yaml.Node, err error) Errors {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Errors{syntaxError(file, err)}
	}
	var out Errors
	for _, msg := range te.Errors {
		e := &Error{File: file, Err: errors.New(msg)}
		m := lineRE.FindStringSubmatch(msg)
		if m == nil {
			out = append(out, e)
			continue
		}
		e.Line, _ = strconv.Atoi(m[1])
		why := m[2]
		if u := unknownRE.FindStringSubmatch(why); u != nil {
			e.Field = pathAt(root, e.Line, u[1], "")
			why = "unknown field; check its spelling and where it is indented (docs/config.md lists the fields)"
		} else if t := typeRE.FindStringSubmatch(why); t != nil {
			e.Field = pathAt(root, e.Line, "", t[2])
			why = fmt.Sprintf("%q is not %s", t[2], typeName(t[3]))
		} else {
			e.Field = pathAt(root, e.Line, "", "")
		}
		if e.Field != "" {
			why = e.Field + ": " + why
		}
		e.Err = errors.New(why)
		out = append(out, e)
	}
	return out
}

// typeName names a Go type as the config docs do.
func typeName(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 30s, 5m or 1h30m"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "a mapping of fields"
	}
	return "a " + goType
}

// syntaxError locates a YAML syntax error ("yaml: line 3: …").
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	e.Err = fmt.Errorf("not valid YAML: %s", msg)
	return e
}
