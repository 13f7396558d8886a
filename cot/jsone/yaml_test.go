package jsone

import (
	"strings"
	"testing"
)

func TestDecodeYAML(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the value as JSON; "" when an error is wanted
		errText  string // part of the error
	}{
		{"numbers are float64", "a: 3\nb: 3.5\nc: -0x10\nd: 1e3\ne: 22222222222222222222", `{"a":3,"b":3.5,"c":-16,"d":1000,"e":22222222222222220000}`, ""},
		{"scalars", "t: true\nf: FALSE\nn: ~\nm: null\ns: hello\nq: 'yes'\ny: y", `{"f":false,"m":null,"n":null,"q":"yes","s":"hello","t":true,"y":"y"}`, ""},
		{"block strings", "a: |\n  x\n  y\nb: >-\n  one\n  two", `{"a":"x\ny\n","b":"one two"}`, ""},
		{"aliases", "base: &b {x: 1}\nuse: *b", `{"base":{"x":1},"use":{"x":1}}`, ""},
		{"merge keys", "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3", `{"base":{"x":1,"y":2},"use":{"x":1,"y":3}}`, ""},
		{"json-e operators pass through", "$if: 'a'\nthen: ${b}\neach(x): 1", `{"$if":"a","each(x)":1,"then":"${b}"}`, ""},
		{"empty document", "", `null`, ""},
		{"yaml 1.1 boolean", "a: yes", "", `"yes" means different things`},
		{"yaml 1.1 boolean key", "on: 1", "", `"on" means different things`},
		{"octal with a bare zero", "mode: 0755", "", `"0755" means different things`},
		{"sexagesimal", "t: 1:20", "", `"1:20" means different things`},
		{"underscores", "n: 1_000", "", `"1_000" means different things`},
		{"timestamp", "d: 2017-01-19", "", "!!timestamp"},
		{"infinity", "x: .inf", "", "not a number JSON can carry"},
		{"numeric key", "1: a", "", "mapping key 1 is not a string"},
		{"collection key", "? [a]\n: b", "", "must be a string"},
		{"two documents", "a: 1\n---\nb: 2", "", "second document"},
		{"syntax", "a: [", "", "yaml:"},
		{"binary", "b: !!binary aGVsbG8=", "", "!!binary"},
		{"duplicate key", "a: 1\na: 2", "", "already defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeYAML([]byte(tt.in))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error containing %q", mustJSON(got), tt.errText)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %q does not contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := mustJSON(got); s != tt.want {
				t.Fatalf("got %s, want %s", s, tt.want)
			}
		})
	}
}

// TestDecodeYAMLAliasBomb: aliases that expand exponentially fail instead
// of exhausting memory.
func TestDecodeYAMLAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + string(rune('0'+i%10)) + string(rune('a'+i)) + ": &a" + strings.Repeat("z", i) + " [")
		prev := "a0"
		if i > 1 {
			prev = "a" + strings.Repeat("z", i-1)
		}
		b.WriteString(strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n")
	}
	_, err := DecodeYAML([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("got error %v, want the value limit", err)
	}
}
