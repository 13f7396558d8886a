package jsone

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxYAMLValues bounds the values DecodeYAML builds, aliases expanded, so
// that an alias bomb ("billion laughs") fails instead of exhausting memory.
const maxYAMLValues = 1 << 20

// yaml11Ambiguous matches plain scalars that YAML 1.1 readers (Python's
// yaml.safe_load, which scriptworker and Gecko's decision code use) and
// YAML 1.2 readers (js-yaml in Taskcluster's GitHub service, and this
// package's yaml.v3) read differently: 1.1 booleans, sexagesimal numbers,
// octal with a bare leading zero, digits with underscores.
var yaml11Ambiguous = regexp.MustCompile(`^(?:[yY]es|YES|[nN]o|NO|[oO]n|ON|[oO]ff|OFF|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|[-+]?0[0-9_]+|[-+]?[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?)$`)

// DecodeYAML reads a YAML document, such as a .taskcluster.yml, into the
// JSON values Render takes: mappings with string keys become
// map[string]any, sequences []any, every number float64 (as JSON and
// JavaScript have them: 3 and 3.0 are the same value), aliases and merge
// keys (<<) are expanded.
//
// It refuses what has no JSON value or means different things to different
// YAML readers, rather than guess which reader made the task under
// verification: timestamps, .inf and .nan, binary, non-string keys, and
// plain scalars such as yes, on, 0777 or 1:20. Quoting such a value makes
// it a string for every reader.
func DecodeYAML(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty document is null
		}
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("yaml line %d: a second document; a template is one document", extra.Line)
	}
	d := &yamlDecoder{budget: maxYAMLValues}
	return d.value(&doc, 0)
}

type yamlDecoder struct {
	budget int
}

func (d *yamlDecoder) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxTemplateDepth {
		return nil, fmt.Errorf("yaml line %d: nested more than %d levels deep", n.Line, maxTemplateDepth)
	}
	d.budget--
	if d.budget < 0 {
		return nil, fmt.Errorf("yaml line %d: more than %d values (aliases expanded)", n.Line, maxYAMLValues)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return d.value(n.Content[0], depth)
	case yaml.AliasNode:
		return d.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := d.value(c, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				merges = append(merges, v)
				continue
			}
			key, err := d.key(k)
			if err != nil {
				return nil, err
			}
			if _, dup := out[key]; dup {
				// Python keeps the last, js-yaml refuses: refuse.
				return nil, fmt.Errorf("yaml line %d: mapping key %q already defined", k.Line, key)
			}
			val, err := d.value(v, depth+1)
			if err != nil {
				return nil, err
			}
			out[key] = val
		}
		// Merged mappings fill in only the keys the mapping lacks; an
		// earlier merge wins over a later one.
		for _, m := range merges {
			sources := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				sources = m.Content
			}
			for _, s := range sources {
				v, err := d.value(s, depth+1)
				if err != nil {
					return nil, err
				}
				obj, ok := v.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("yaml line %d: a merge key (<<) needs a mapping or a list of mappings", s.Line)
				}
				for k, e := range obj {
					if _, set := out[k]; !set {
						out[k] = e
					}
				}
			}
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("yaml line %d: unsupported node", n.Line)
}

func (d *yamlDecoder) key(k *yaml.Node) (string, error) {
	if k.Kind == yaml.AliasNode {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("yaml line %d: a mapping key must be a string, not a collection", k.Line)
	}
	v, err := scalar(k)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		// JSON keys are strings; a reader turning the number 1 into "1"
		// and another keeping it a number would disagree.
		return "", fmt.Errorf("yaml line %d: mapping key %s is not a string; quote it", k.Line, k.Value)
	}
	return s, nil
}

func scalar(n *yaml.Node) (any, error) {
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, nil
	}
	switch n.Tag {
	case "!!str":
		if n.Style == 0 && yaml11Ambiguous.MatchString(n.Value) {
			return nil, fmt.Errorf("yaml line %d: %q means different things to YAML 1.1 and 1.2 readers; quote it", n.Line, n.Value)
		}
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("yaml line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		if yaml11Ambiguous.MatchString(n.Value) {
			return nil, fmt.Errorf("yaml line %d: %q means different things to YAML 1.1 and 1.2 readers; quote it", n.Line, n.Value)
		}
		return parseYAMLInt(n)
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("yaml line %d: %q is not a number JSON can carry", n.Line, n.Value)
		}
		return f, nil
	}
	return nil, fmt.Errorf("yaml line %d: %q has type %s, which JSON does not have; quote it to make it a string", n.Line, n.Value, n.Tag)
}

// parseYAMLInt reads an integer as JavaScript would hold it: the nearest
// float64, however many digits.
func parseYAMLInt(n *yaml.Node) (any, error) {
	text := n.Value
	if i, err := strconv.ParseInt(text, 0, 64); err == nil {
		return float64(i), nil
	}
	if f, err := strconv.ParseFloat(text, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if !math.IsInf(f, 0) {
			return f, nil
		}
	}
	return nil, fmt.Errorf("yaml line %d: integer %q is out of range", n.Line, text)
}
