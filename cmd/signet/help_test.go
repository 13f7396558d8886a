package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelp runs every way of asking for a command's help, for every
// command and subcommand the manual lists: each prints that command's
// page (synopsis, flags, two examples) on standard output and exits 0.
func TestHelp(t *testing.T) {
	names := map[string]bool{}
	for _, line := range strings.Split(usage, "\n") {
		rest, ok := strings.CutPrefix(line, "    signet ")
		if !ok {
			continue
		}
		words := strings.Fields(rest)
		name := words[0]
		if _, group := groups[name]; group && len(words) > 1 {
			name += " " + words[1]
		}
		names[name] = true
	}
	for g := range groups {
		names[g] = true
	}
	names["version"], names["help"] = true, true
	if len(names) < 40 {
		t.Fatalf("found only %d commands in the manual", len(names))
	}
	for name := range names {
		words := strings.Fields(name)
		for _, args := range [][]string{
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
			append(append([]string{}, words...), "--key", "x", "--help"),
		} {
			if name == "version" && args[0] != "help" || name == "help" && args[0] == "help" {
				continue // 'signet version --help' prints the version; 'signet help help' is the page below
			}
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Errorf("signet %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut.String())
				continue
			}
			page := out.String()
			if !strings.HasPrefix(page, "signet "+name+": ") || !strings.Contains(page, "\nUsage:\n    signet ") || errOut.Len() != 0 {
				t.Errorf("signet %s printed:\n%s\nstderr %q", strings.Join(args, " "), page, errOut.String())
				continue
			}
			_, examples, ok := strings.Cut(page, "\nExamples:\n")
			if !ok || strings.Count(strings.Split(examples, "\n\n")[0], "\n    ") < 1 {
				t.Errorf("signet %s: fewer than two examples:\n%s", strings.Join(args, " "), page)
			}
		}
	}
}

// TestOverview checks that plain 'signet' is short, and 'signet help
// all' the whole manual.
func TestOverview(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != 2 || out.Len() != 0 {
		t.Fatalf("signet: exit %d, stdout %q", code, out.String())
	}
	if n := strings.Count(errOut.String(), "\n"); n > 40 || !strings.Contains(errOut.String(), "signet help COMMAND") {
		t.Errorf("signet alone printed %d lines:\n%s", n, errOut.String())
	}
	out.Reset()
	if code := run([]string{"help", "all"}, &out, &errOut); code != 0 || out.String() != usage {
		t.Errorf("signet help all: exit %d", code)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"help", "frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `no help for "frobnicate"`) {
		t.Errorf("signet help frobnicate: exit %d, %q", code, errOut.String())
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out.Reset()
		if code := run(args, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "signet ") || !strings.Contains(out.String(), "\ngo1.") {
			t.Errorf("signet %s: exit %d, %q", args[0], code, out.String())
		}
	}
}
