package cottest

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"
)

// Write serializes a chain-of-trust document as a worker of the given
// style does, with two-space indentation.
//
// StyleGenericWorker writes the top-level fields in the order of
// generic-worker's Go struct (chainOfTrustVersion, artifacts, task, taskId,
// runId, workerGroup, workerId, environment), nested objects with sorted
// keys, and escapes <, > and & as Go does. StyleScriptworker sorts every
// object's keys and escapes every non-ASCII character, as Python's
// json.dumps(indent=2, sort_keys=True) does.
func Write(doc map[string]any, style string) []byte {
	var b bytes.Buffer
	w := &writer{b: &b, python: style == StyleScriptworker}
	var order []string
	if !w.python {
		order = []string{"chainOfTrustVersion", "artifacts", "task", "taskId", "runId", "workerGroup", "workerId", "environment"}
	}
	w.object(doc, 0, order)
	return b.Bytes()
}

type writer struct {
	b      *bytes.Buffer
	python bool
}

func (w *writer) value(v any, depth int) {
	switch x := v.(type) {
	case map[string]any:
		w.object(x, depth, nil)
	case []any:
		if len(x) == 0 {
			w.b.WriteString("[]")
			return
		}
		w.b.WriteString("[")
		for i, e := range x {
			if i > 0 {
				w.b.WriteString(",")
			}
			w.newline(depth + 1)
			w.value(e, depth+1)
		}
		w.newline(depth)
		w.b.WriteString("]")
	case string:
		w.str(x)
	case json.Number:
		w.b.WriteString(string(x))
	case bool:
		fmt.Fprint(w.b, x)
	case nil:
		w.b.WriteString("null")
	case int:
		fmt.Fprint(w.b, x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			panic(err)
		}
		w.b.Write(b)
	}
}

func (w *writer) object(m map[string]any, depth int, order []string) {
	if len(m) == 0 {
		w.b.WriteString("{}")
		return
	}
	keys := make([]string, 0, len(m))
	for _, k := range order {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range m {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	keys = append(keys, rest...)
	w.b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			w.b.WriteString(",")
		}
		w.newline(depth + 1)
		w.str(k)
		w.b.WriteString(": ")
		w.value(m[k], depth+1)
	}
	w.newline(depth)
	w.b.WriteString("}")
}

func (w *writer) newline(depth int) {
	w.b.WriteByte('\n')
	w.b.WriteString(strings.Repeat("  ", depth))
}

func (w *writer) str(s string) {
	if !w.python {
		b, _ := json.Marshal(s) // escapes <, >, & as Go does
		w.b.Write(b)
		return
	}
	w.b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			w.b.WriteString(`\"`)
		case r == '\\':
			w.b.WriteString(`\\`)
		case r == '\n':
			w.b.WriteString(`\n`)
		case r == '\r':
			w.b.WriteString(`\r`)
		case r == '\t':
			w.b.WriteString(`\t`)
		case r == '\b':
			w.b.WriteString(`\b`)
		case r == '\f':
			w.b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				a, b := utf16.EncodeRune(r)
				fmt.Fprintf(w.b, `\u%04x\u%04x`, a, b)
			} else {
				fmt.Fprintf(w.b, `\u%04x`, r)
			}
		default:
			w.b.WriteRune(r)
		}
	}
	w.b.WriteByte('"')
}

// prefixStates caches the SHA-256 state after the shared block of
// generated artifacts, by length, so that signing a large generated graph
// hashes each artifact's tail only.
var prefixStates sync.Map // int64 → []byte

func generatedSum(gn *generated) string {
	head := gn.size - int64(len(gn.tail))
	var h hash.Hash = sha256.New()
	if st, ok := prefixStates.Load(head); ok {
		h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.([]byte))
	} else {
		h.Write(shared[:head])
		st, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
		prefixStates.Store(head, st)
	}
	h.Write(gn.tail)
	return hex.EncodeToString(h.Sum(nil))
}
