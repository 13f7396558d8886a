package cot

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxDocumentBytes is the default bound on a chain-of-trust document. Real
// ones are a few kilobytes: the task definition plus one line per artifact.
const MaxDocumentBytes = 8 << 20

// maxJSONDepth bounds nesting in every JSON value this package parses.
const maxJSONDepth = 64

// Document is a parsed chain-of-trust.json. Unknown fields are allowed
// (workers add their own); the ones below are required and type-checked.
type Document struct {
	Artifacts           map[string]Digests // artifact name → its digests
	ChainOfTrustVersion int
	Environment         map[string]any
	RunID               int64
	Task                *Task // the task definition the worker signed
	TaskID              string
	WorkerGroup         string
	WorkerID            string
	WorkerType          string // scriptworker writes it; others may not
}

// Digests maps a hash algorithm ("sha256", "sha512") to the lowercase hex
// digest of an artifact.
type Digests map[string]string

// Hash algorithms an artifact may be listed with, and their digest sizes.
var hashSizes = map[string]int{"sha256": 32, "sha512": 64}

// ParseDocument parses the exact bytes of a chain-of-trust.json. It
// rejects what different JSON parsers could read differently (duplicate
// keys, invalid UTF-8) and anything larger than MaxDocumentBytes.
func ParseDocument(b []byte) (*Document, error) {
	if len(b) > MaxDocumentBytes {
		return nil, fmt.Errorf("chain-of-trust document is %d bytes; the limit is %d", len(b), MaxDocumentBytes)
	}
	top, err := decodeObject(b, "chain-of-trust document")
	if err != nil {
		return nil, err
	}
	d := &Document{}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	switch v, err := intField(top, "chainOfTrustVersion"); {
	case err != nil:
		bad("%v", err)
	case v != 1:
		bad("chainOfTrustVersion is %d; only version 1 is known", v)
	default:
		d.ChainOfTrustVersion = 1
	}
	if d.RunID, err = intField(top, "runId"); err != nil {
		bad("%v", err)
	} else if d.RunID < 0 || d.RunID > 1000 {
		bad("runId %d is out of range", d.RunID)
	}
	if d.TaskID, err = stringField(top, "taskId"); err != nil {
		bad("%v", err)
	} else if !ValidTaskID(d.TaskID) {
		bad("taskId %.40q is not a Taskcluster task id", d.TaskID)
	}
	if d.WorkerGroup, err = stringField(top, "workerGroup"); err != nil {
		bad("%v", err)
	}
	if d.WorkerID, err = stringField(top, "workerId"); err != nil {
		bad("%v", err)
	}
	if v, ok := top["workerType"]; ok {
		if d.WorkerType, ok = v.(string); !ok {
			bad("workerType is not a string")
		}
	}
	if env, ok := top["environment"].(map[string]any); ok {
		d.Environment = env
	} else {
		bad("environment is missing or not an object")
	}
	if t, ok := top["task"].(map[string]any); ok {
		if d.Task, err = taskFromMap(t); err != nil {
			bad("task: %v", err)
		}
	} else {
		bad("task is missing or not an object")
	}
	if arts, ok := top["artifacts"].(map[string]any); ok {
		d.Artifacts = make(map[string]Digests, len(arts))
		for name, v := range arts {
			dg, err := parseDigests(name, v)
			if err != nil {
				bad("%v", err)
				continue
			}
			d.Artifacts[name] = dg
		}
	} else {
		bad("artifacts is missing or not an object")
	}
	if len(errs) > 0 {
		if len(errs) > 6 { // "and 1 more problem" would take the room of the problem itself
			errs = append(errs[:5], fmt.Sprintf("and %d more problems", len(errs)-5))
		}
		return nil, errors.New("chain-of-trust document: " + strings.Join(errs, "; "))
	}
	return d, nil
}

func parseDigests(name string, v any) (Digests, error) {
	if err := checkArtifactName(name); err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("artifact %.80q: digests are not an object", name)
	}
	dg := make(Digests, len(m))
	for alg, hv := range m {
		s, ok := hv.(string)
		if !ok {
			return nil, fmt.Errorf("artifact %.80q: %.20s digest is not a string", name, alg)
		}
		if size, known := hashSizes[alg]; known {
			sum, err := hex.DecodeString(s)
			if err != nil || len(sum) != size {
				return nil, fmt.Errorf("artifact %.80q: %s digest %.140q is not %d hex bytes", name, alg, s, size)
			}
			s = strings.ToLower(s)
		}
		// Unknown algorithms are kept: scriptworker refuses them only for
		// the artifacts it uses, and so does Verify.
		dg[alg] = s
	}
	return dg, nil
}

// checkArtifactName accepts names as the Queue does: non-empty, bounded,
// printable.
func checkArtifactName(name string) error {
	if name == "" || len(name) > 1024 {
		return fmt.Errorf("artifact name %.80q is empty or longer than 1024 bytes", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("artifact name %.80q contains a control character", name)
		}
	}
	return nil
}

var taskIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]$`)

// ValidTaskID reports whether id is a Taskcluster task id (a v4 slugid), the
// only form the Queue accepts. Ids go into URLs and file names, so nothing
// else is let through.
func ValidTaskID(id string) bool { return taskIDPattern.MatchString(id) }

// decodeObject decodes one JSON object strictly: valid UTF-8, no duplicate
// keys at any depth, bounded nesting, nothing after it. Numbers stay
// json.Number so that comparisons see what was written.
func decodeObject(b []byte, what string) (map[string]any, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%s is not valid UTF-8", what)
	}
	if err := checkJSONStructure(b); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", what, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a JSON object", what)
	}
	return m, nil
}

// checkJSONStructure walks the tokens of b: one value, no duplicate keys,
// depth at most maxJSONDepth.
func checkJSONStructure(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		keys   map[string]struct{}
		object bool
		expect bool // in an object, the next token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return errors.New("truncated JSON")
			}
			break
		}
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			top := &stack[n-1]
			if top.expect {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:n-1]
					if len(stack) == 0 {
						return endOfJSON(dec)
					}
					continue
				}
				k := tok.(string) // the decoder guarantees keys are strings
				if _, dup := top.keys[k]; dup {
					return fmt.Errorf("duplicate key %.80q", k)
				}
				top.keys[k] = struct{}{}
				top.expect = false
				continue
			}
			top.expect = true
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, frame{keys: map[string]struct{}{}, object: true, expect: true})
			case '[':
				stack = append(stack, frame{})
			case ']':
				stack = stack[:len(stack)-1]
			}
			if len(stack) > maxJSONDepth {
				return fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
			}
		}
		if len(stack) == 0 {
			return endOfJSON(dec)
		}
	}
	return nil
}

func endOfJSON(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func stringField(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", fmt.Errorf("%s is missing", key)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s is not a string", key)
	}
	return s, nil
}

func intField(m map[string]any, key string) (int64, error) {
	v, ok := m[key]
	if !ok {
		return 0, fmt.Errorf("%s is missing", key)
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", key)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%s %.20s is not an integer", key, n)
	}
	return i, nil
}

// parseYAMLObject parses a YAML mapping (such as parameters.yml) into
// JSON values, numbers as json.Number, refusing what YAML 1.1 readers
// (Python's, which wrote it) and YAML 1.2 readers read differently (see
// jsone.DecodeYAML).
func parseYAMLObject(b []byte, what string) (map[string]any, error) {
	v, err := parseYAMLValue(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a mapping", what)
	}
	return m, nil
}
