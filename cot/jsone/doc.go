// Package jsone is a json-e interpreter: the JSON templating language that
// Taskcluster renders .taskcluster.yml files, hooks and action tasks with.
// The chain-of-trust verifier uses it to rebuild a decision, cron or action
// task from the trusted .taskcluster.yml of its tree and compare the result
// with the task that actually ran.
//
// It was written clean-room from the language's documentation
// (https://json-e.js.org) and its conformance suite, specification.yml,
// which TestSpecification runs in full when the third-party test-data
// directory holds it (internal/thirdparty; every one of its 1,175 cases
// passes, error messages included). testdata/cases.yml, written for this
// package from the documentation, covers every operator, built-in and
// error class in its absence; TestCasesReference checks each of its
// expectations against the reference implementation. Where the
// documentation is silent, behaviour follows the reference, the npm
// package json-e, observed as a black box: TestDifferentialReference
// renders thousands of generated templates with both and demands the same
// result or an error of the same class, and TestTaskclusterFiles does the
// same for .taskcluster.yml files (Signet's own, and real projects' from
// the third-party directory).
//
// # The language
//
// A template is a JSON value. Strings interpolate ${expression}; a run of
// two or more dollars before a brace escapes it ("$${x}" is "${x}").
// Objects with a $-key are operators: $eval, $json, $if/then/else,
// $flatten, $flattenDeep, $fromNow (with from), $let/in, $map/each(x[,i]),
// $reduce/initial/each(acc,x[,i]), $find/each(x[,i]), $match, $switch
// (with $default), $merge, $mergeDeep, $sort/by(x), $reverse. Any other key
// matching $identifier is reserved, and $$key escapes to $key. An $if
// without the chosen branch (and $switch or $find without a match) renders
// to nothing: the enclosing object or array drops the entry, and a whole
// template rendering to nothing is null.
//
// Expressions have JSON literals (bare identifiers allowed as object keys,
// strings in '…' or "…" without escapes), variables from the context and
// the built-ins, the operators ||, &&, in, == !=, < <= > >=, + -, * /, **
// (loosest to tightest; ** is right-associative) and the unary ! - +, which
// as in the reference bind tighter even than . [ ( — so -a.b is (-a).b and
// !defined('x') calls the boolean !defined. Indexing and slicing are
// Python's, by Unicode code point for strings; obj.key fails on a missing
// key where obj['key'] is null. The built-ins are min, max, sqrt, ceil,
// floor, abs, lowercase, uppercase, len, str, number, strip, lstrip,
// rstrip, split, join, fromNow, typeof, defined, range, and the variable
// now. The context may override any of them.
//
// # Design
//
// A hand-written lexer and a Pratt parser turn an expression into a small
// syntax tree (parse.go); an evaluator walks it over a chain of scopes,
// innermost first: $let and each(…) scopes, the context, the built-ins
// (eval.go, builtins.go). The renderer walks the template (render.go),
// dispatching operators, interpolating strings and recording the JSON path
// of the node it is in, so that errors read as the reference's do:
// "InterpreterError at template.tasks[0].payload: unknown context value x".
// Expressions are parsed once per render and cached by source.
//
// Values are the ones encoding/json produces: map[string]any, []any,
// string, float64, bool and nil. Every number is a float64, as in
// JavaScript: 3 and 3.0 are the same value, integers print without a
// fraction and other numbers as JavaScript prints them (0.1 + 0.2 is
// 0.30000000000000004, 1e21 is "1e+21"). Maps have no order, so wherever
// the reference follows an object's insertion order this package follows
// sorted key order: which key's error is reported first, and which of two
// $map results writing the same key wins. A .taskcluster.yml decoded with
// DecodeYAML never depends on either.
//
// # Errors
//
// Every error is an *Error whose Class is TemplateError, InterpreterError,
// SyntaxError or BuiltinError (errors.Is(err, jsone.SyntaxError) works),
// with the reference's message text.
//
// # Deliberate differences from the reference
//
//   - A result holding NaN or an infinity (sqrt(-1), 10 ** 400,
//     number("x")) is refused; the reference returns it and its JSON
//     encoding turns it into null. Inside expressions and interpolations
//     they behave as in JavaScript.
//   - Interpolating a function is refused; the reference writes its
//     JavaScript source text.
//   - Inputs are never modified; the reference's $reverse reverses a
//     context array in place.
//   - An expression with a syntax error fails with a SyntaxError; the
//     reference evaluates as it parses, so an evaluation error earlier in
//     the same expression can win, and inside ${…} it ignores an operator
//     dangling before the closing brace ("${a &&}").
//   - join takes strings and numbers only, as documented; the reference
//     stringifies anything. fromNow's from must be an ISO 8601 date or
//     date-time.
//   - x ** y is exact for whole exponents up to 64 and math.Pow otherwise;
//     the reference's Math.pow can differ in the last bit.
//
// # Limits
//
// Rendering is bounded so that a hostile template fails with a
// TemplateError instead of exhausting the process: nesting (1,000 levels of
// template, 256 of expression), work (5 million steps, a step being a
// template node, an expression node, or an element or 16 bytes of string
// built), strings (8 MiB) and range() (2^20 elements). A real
// .taskcluster.yml uses a few thousand steps.
//
// # YAML
//
// DecodeYAML reads YAML into these values. It refuses what YAML 1.1 readers
// (Python's yaml.safe_load, used by scriptworker and Gecko's decision code)
// and YAML 1.2 readers (js-yaml in Taskcluster's GitHub service) read
// differently, such as unquoted yes, on, 0755 or 1:20, and what JSON cannot
// hold (timestamps, .inf), rather than guess which reader made the task
// under verification.
package jsone
