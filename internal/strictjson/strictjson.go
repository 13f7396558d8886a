// Package strictjson decodes JSON that Signet reads from others (entries,
// tokens, envelopes, statements, key files) the one strict way: exactly
// one JSON value, no field the destination type does not have, nothing
// after it. A lenient decoder would let two parsers read the same bytes
// differently, which is how signed documents get misread.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Unmarshal decodes data into v like json.Unmarshal, but refuses unknown
// fields and data after the value.
func Unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// CheckObject checks that b is exactly one JSON object with no duplicate
// key in any object (where parsers disagree on which value wins), nested
// at most maxDepth deep. Unmarshal does not catch duplicates; formats
// that decode into maps call this first.
func CheckObject(b []byte, maxDepth int) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		keys map[string]bool // nil for an array
		key  bool            // an object's next token is a key
	}
	var stack []*frame
	for first := true; ; first = false {
		tok, err := dec.Token()
		if err == io.EOF {
			if first || len(stack) != 0 {
				return errors.New("truncated JSON")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("not valid JSON: %v", err)
		}
		if first {
			if tok != json.Delim('{') {
				return errors.New("not a JSON object")
			}
		} else if len(stack) == 0 {
			return errors.New("data after the JSON object")
		}
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			top := stack[n-1]
			if top.key {
				if tok == json.Delim('}') {
					stack = stack[:n-1]
					continue
				}
				k := tok.(string) // object keys are strings
				if top.keys[k] {
					return fmt.Errorf("duplicate key %.40q", k)
				}
				top.keys[k] = true
				top.key = false
				continue
			}
			top.key = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > maxDepth {
			return fmt.Errorf("nested more than %d deep", maxDepth)
		}
	}
}
