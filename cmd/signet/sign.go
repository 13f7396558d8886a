package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
)

// batchOptions are the flags of 'signet sign' for many files.
type batchOptions struct {
	jobs         *int
	filesFrom    *string
	skipExisting *bool
	force        *bool
	batch        *int
}

func batchFlags(fs *flag.FlagSet) *batchOptions {
	return &batchOptions{
		jobs:         fs.Int("jobs", 8, ""),
		filesFrom:    fs.String("files-from", "", ""),
		skipExisting: fs.Bool("skip-existing", false, ""),
		force:        fs.Bool("force", false, ""),
		batch:        fs.Int("batch", 0, ""),
	}
}

// files returns the files named on the command line and in --files-from.
// A list leaves out the files Signet writes (signatures, receipts …), as
// 'find dist -type f' lists them on a second run; named on the command
// line, they are signed.
func (b *batchOptions) files(env *cmdEnv, args []string, stdin io.Reader) ([]string, error) {
	if *b.jobs < 1 || *b.batch < 0 {
		return nil, usagef("--jobs takes a number of files hashed at once (at least 1); --batch a number of files per request (0: the server's limit)")
	}
	if *b.filesFrom == "" {
		return args, nil
	}
	r := stdin
	if *b.filesFrom != "-" {
		f, err := os.Open(*b.filesFrom)
		if err != nil {
			return nil, hintf("give a file with one path per line, or '-' for standard input ('find dist -type f | signet sign --key K --files-from -')", "--files-from: %w", err)
		}
		defer f.Close()
		r = f
	}
	listed, err := client.ReadFileList(r)
	if err != nil {
		return nil, fmt.Errorf("--files-from %s: %w", *b.filesFrom, err)
	}
	listed, outputs := client.LeaveOutOutputs(listed)
	if n := len(outputs); n > 0 {
		fmt.Fprintf(env.stderr, "signet: left out %s listed by --files-from that Signet writes (such as %s); name them on the command line to sign them\n",
			plural(n, "file"), outputs[0])
	}
	return append(args, listed...), nil
}

// sign signs files with the batch pipeline: signatures next to the files
// (or to out, for one file), their names on standard output, progress or
// a summary on standard error, and every failed file listed at the end.
func (b *batchOptions) sign(env *cmdEnv, c *client.Client, key, format string, files []string, out string, opts api.SignOptions, trustedComment string) error {
	// With the bar and the list on one terminal, the list waits for the
	// bar to finish, so that the two never interleave.
	bar := isTerminal(env.stderr)
	hold := bar && isTerminal(env.stdout)
	var written []string
	o := client.BatchOptions{
		Key: key, Format: format, Options: opts, TrustedComment: trustedComment,
		Jobs: *b.jobs, MaxBatch: *b.batch, SkipExisting: *b.skipExisting, Force: *b.force,
		Done: func(r client.FileResult) {
			switch {
			case r.Signature == "":
			case hold:
				written = append(written, r.Signature)
			default:
				fmt.Fprintln(env.stdout, r.Signature)
			}
		},
	}
	if out != "" {
		o.Output = func(string) string { return out }
	}
	var live *liveLine
	if bar {
		o.Progress = new(client.Progress)
		live = startLine(env.stderr, func() string { return progressLine(o.Progress.Snapshot(), 80) })
	}
	sum, err := c.SignBatch(env.ctx, files, o)
	live.stop()
	for _, w := range written {
		fmt.Fprintln(env.stdout, w)
	}
	if err != nil {
		return err
	}
	if len(files) > 1 || live != nil || sum.Skipped > 0 {
		fmt.Fprintln(env.stderr, summaryLine(sum))
	}
	if len(sum.Failed) == 0 {
		return nil
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "%d of %d files failed:", len(sum.Failed), sum.Files)
	var others, local int
	for _, f := range sum.Failed {
		fmt.Fprintf(&msg, "\n  %s: %v", f.Path, f.Err)
		var pe *os.PathError
		switch {
		case errors.Is(f.Err, client.ErrOtherSignature):
			others++
		case errors.As(f.Err, &pe), strings.HasPrefix(f.Err.Error(), "a directory"), f.Err.Error() == "not a regular file":
			local++
		}
	}
	var hints []string
	if others > 0 {
		hints = append(hints, "to replace another key's or format's signature, add --force; to keep it, write elsewhere with -o (one file)")
	}
	if others+local < len(sum.Failed) && env.ctx.Err() == nil {
		hints = append(hints, "run the same command again with --skip-existing: the files signed already are checked and left alone")
	}
	if len(hints) == 0 {
		return errors.New(msg.String())
	}
	return hintf(strings.Join(hints, "; "), "%s", msg.String())
}

// plural returns "1 file", "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// summaryLine sums up a run in one line.
func summaryLine(s *client.BatchSummary) string {
	secs := s.Elapsed.Seconds()
	line := fmt.Sprintf("signed %d of %d files (%s) in %s: %.0f files/s, %s/s; %s",
		s.Signed, s.Files, client.Size(s.Bytes), s.Elapsed.Round(time.Millisecond), float64(s.Files)/secs, client.Size(int64(float64(s.Bytes)/secs)), plural(s.Requests, "request"))
	if s.Retries > 0 {
		line += fmt.Sprintf(", %d retried", s.Retries)
	}
	if s.Skipped > 0 {
		line += fmt.Sprintf("; %d already signed", s.Skipped)
	}
	if len(s.Failed) > 0 {
		line += fmt.Sprintf("; %d failed", len(s.Failed))
	}
	return line
}
