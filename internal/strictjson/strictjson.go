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
