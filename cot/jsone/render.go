package jsone

import (
	"errors"
	"time"
)

// Render renders template with context. Values are JSON values as
// encoding/json decodes them into `any` (map[string]any, []any,
// string, float64, bool, nil), with json.Number also accepted.
// The built-in `now` (and so `$fromNow` and `fromNow()`) is the current
// time; use RenderAt for a deterministic one.
func Render(template any, context map[string]any) (any, error) {
	return RenderAt(template, context, time.Now())
}

// RenderAt is Render with the built-in `now` fixed to now.
func RenderAt(template any, context map[string]any, now time.Time) (any, error) {
	return nil, errors.New("jsone: not implemented yet")
}
