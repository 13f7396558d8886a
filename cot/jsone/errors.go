package jsone

import "fmt"

// ErrorClass names the kind of a rendering error, as the reference
// implementations name them. Each class is also an error value, so that
// callers can branch with errors.Is(err, jsone.SyntaxError).
type ErrorClass string

// The four error classes of json-e.
const (
	// TemplateError: the template is malformed (an operator with a value
	// of the wrong type, unknown properties, a reserved $-key, a function
	// left in the result) or exceeds this package's limits.
	TemplateError ErrorClass = "TemplateError"
	// InterpreterError: an expression failed while evaluating (unknown
	// variable, type mismatch, index out of bounds, division by zero).
	InterpreterError ErrorClass = "InterpreterError"
	// SyntaxError: an expression or a ${...} interpolation does not parse.
	SyntaxError ErrorClass = "SyntaxError"
	// BuiltinError: a built-in function was called with invalid arguments.
	BuiltinError ErrorClass = "BuiltinError"
)

// Error makes a class usable as an errors.Is target.
func (c ErrorClass) Error() string { return string(c) }

// Error is every error Render returns. Its text is the reference
// implementation's: "Class: message" when the failing node is the template
// itself, "Class at template.a[0]: message" for a node inside it.
type Error struct {
	Class   ErrorClass
	Message string
	// Location is the JSON path of the innermost plain object or array
	// element being rendered, "template" for the root.
	Location string
	// Err is the error a Func from the context returned, if that is what
	// failed (Class is then InterpreterError).
	Err error
}

// Unwrap returns the error a context Func returned, or nil.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Location == "" || e.Location == "template" {
		return string(e.Class) + ": " + e.Message
	}
	return string(e.Class) + " at " + e.Location + ": " + e.Message
}

// Is reports whether target is e's class.
func (e *Error) Is(target error) bool {
	c, ok := target.(ErrorClass)
	return ok && c == e.Class
}

func templateErr(format string, args ...any) *Error {
	return &Error{Class: TemplateError, Message: fmt.Sprintf(format, args...)}
}

func interpErr(format string, args ...any) *Error {
	return &Error{Class: InterpreterError, Message: fmt.Sprintf(format, args...)}
}

func syntaxErr(format string, args ...any) *Error {
	return &Error{Class: SyntaxError, Message: fmt.Sprintf(format, args...)}
}

func builtinErr(name string) *Error {
	return &Error{Class: BuiltinError, Message: "invalid arguments to builtin: " + name}
}
