package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/custody"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runUnlock(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("unlock", flag.ContinueOnError)
	cf := clientFlags(fs)
	passFile := fs.String("passphrase-file", "", "")
	shareFile := fs.String("share", "", "")
	identity := fs.String("identity", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unlock takes no arguments")
	}
	if (*shareFile == "") != (*identity == "") {
		return usagef("--share FILE needs --identity AGE-KEY (and the reverse)")
	}
	if *shareFile != "" && *passFile != "" {
		return usagef("unlock with --passphrase-file or with --share, not both")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if *shareFile != "" {
		sh, err := readShare(*shareFile, *identity)
		if err != nil {
			return err
		}
		resp, err := c.UnlockShare(env.ctx, sh)
		sh.Wipe()
		if err != nil {
			return err
		}
		a := resp.Share
		fmt.Fprintf(env.stdout, "share %d (%s) accepted: %d of %d\n", a.Index, a.Custodian, a.Received, a.Threshold)
		if resp.Unlocked {
			fmt.Fprintln(env.stdout, "keystore unlocked")
		} else {
			fmt.Fprintf(env.stdout, "keystore still locked: %d more share(s) needed\n", a.Threshold-a.Received)
		}
		return nil
	}
	pass, err := readPassphrase(env, *passFile, false)
	if err != nil {
		return err
	}
	if err := c.Unlock(env.ctx, string(pass)); err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == "wrong_method" {
			return hintf("each custodian runs 'signet unlock --share FILE --identity AGE-KEY'", "%w", err)
		}
		return err
	}
	fmt.Fprintln(env.stdout, "keystore unlocked")
	return nil
}

// readShare decrypts a share file with an age identity file, locally:
// only the share, never the identity, goes to the server.
func readShare(shareFile, identityFile string) (custody.Share, error) {
	b, err := os.ReadFile(shareFile)
	if err != nil {
		return custody.Share{}, err
	}
	f, err := custody.ParseShareFile(b)
	if err != nil {
		return custody.Share{}, fmt.Errorf("%s: %w", shareFile, err)
	}
	ib, err := os.ReadFile(identityFile)
	if err != nil {
		return custody.Share{}, err
	}
	ids, err := custody.ParseIdentities(ib)
	clear(ib)
	if err != nil {
		return custody.Share{}, fmt.Errorf("%s: %w", identityFile, err)
	}
	sh, err := f.Decrypt(ids...)
	if err != nil {
		if errors.Is(err, custody.ErrNoIdentity) {
			return custody.Share{}, hintf("use the age key whose public key was given to 'signet custody init' for this share", "%s: %w", shareFile, err)
		}
		return custody.Share{}, fmt.Errorf("%s: %w", shareFile, err)
	}
	return sh, nil
}

func runLock(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	cf := clientFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("lock takes no arguments")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	resp, err := c.Lock(env.ctx)
	if err != nil {
		return err
	}
	if resp.RecordPending {
		fmt.Fprintf(env.stderr, "warning: %s\n", resp.Message)
	}
	if resp.WasUnlocked {
		fmt.Fprintln(env.stdout, "keystore locked: keys wiped from memory, tokens logged out")
	} else {
		fmt.Fprintln(env.stdout, "keystore was already locked; partial unlock progress discarded")
	}
	return nil
}

func runStatus(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	cf := clientFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("status takes no arguments")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	st, err := c.Status(env.ctx)
	if err != nil {
		return err
	}
	printStatus(env.stdout, st, time.Now())
	return nil
}

func printStatus(w io.Writer, st *api.Status, now time.Time) {
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	left := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return fmt.Sprintf("in %v (%s)", t.Sub(now).Round(time.Second), at(t))
	}
	ttl := func(d time.Duration) string {
		if d == 0 {
			return "unlimited"
		}
		return d.String()
	}
	state := "unlocked"
	if st.Locked {
		state = "locked"
	}
	fmt.Fprintf(w, "keystore: %s\n", state)
	if s := st.Set; s != nil {
		fmt.Fprintf(w, "custody: %d of %d custodians (%s), share set %s created %s\n", s.Threshold, len(s.Custodians), strings.Join(s.Custodians, ", "), s.ID, s.Created)
	} else {
		fmt.Fprintf(w, "custody: passphrase\n")
	}
	if l := st.Lease; l != nil {
		fmt.Fprintf(w, "unlocked by: %s at %s with %s", l.By, at(l.Since), l.Method)
		if len(l.Custodians) > 0 {
			var cs []string
			for _, r := range l.Custodians {
				cs = append(cs, fmt.Sprintf("%d %s", r.Index, r.Custodian))
			}
			fmt.Fprintf(w, " (%s)", strings.Join(cs, ", "))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "idle expiry: %s; idle TTL %s, refreshed by use\n", left(l.IdleExpires), ttl(st.IdleTTL))
		fmt.Fprintf(w, "hard expiry: %s; max TTL %s\n", left(l.Expires), ttl(st.MaxTTL))
	} else {
		fmt.Fprintf(w, "lease: none; idle TTL %s, max TTL %s\n", ttl(st.IdleTTL), ttl(st.MaxTTL))
	}
	progress := func(what string, p *custody.Progress) {
		fmt.Fprintf(w, "%s: %d of %d shares received", what, len(p.Received), p.Threshold)
		if !p.Expires.IsZero() {
			fmt.Fprintf(w, ", discarded %s unless the quorum completes", left(p.Expires))
		}
		fmt.Fprintln(w)
		for _, r := range p.Received {
			fmt.Fprintf(w, "  share %d (%s) from %s at %s\n", r.Index, r.Custodian, r.By, at(r.At))
		}
	}
	if st.Unlock != nil {
		progress("unlock", st.Unlock)
	}
	if p := st.Rekey; p != nil {
		var names []string
		for _, c := range p.Custodians {
			names = append(names, c.Name)
		}
		fmt.Fprintf(w, "rekey proposal %s by %s at %s: %d of %d (%s)\n", p.ID, p.By, at(p.At), p.Threshold, len(p.Custodians), strings.Join(names, ", "))
		progress("rekey approvals", &p.Progress)
	}
	for _, t := range st.Tokens {
		state := "logged out"
		if t.LoggedIn {
			state = "logged in"
		}
		if t.Error != "" {
			state = "error: " + t.Error
		}
		fmt.Fprintf(w, "token %s: %s, keys %s: %s\n", t.Name, t.Device, strings.Join(t.Keys, " "), state)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tBACKEND")
	for _, k := range st.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Type, k.Backend)
	}
	tw.Flush()
}

func runCustody(env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("custody needs a subcommand: init, rekey, approve or reset")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("custody "+sub, flag.ContinueOnError)
	cf := clientFlags(fs)
	var recipients listFlag
	fs.Var(&recipients, "recipient", "")
	shares := fs.Int("shares", 0, "")
	threshold := fs.Int("threshold", 0, "")
	out := fs.String("out", ".", "")
	passFile := fs.String("passphrase-file", "", "")
	shareFile := fs.String("share", "", "")
	identity := fs.String("identity", "", "")
	proposal := fs.String("proposal", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("custody %s takes no arguments, got %q", sub, pos[0])
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	switch sub {
	case "init", "rekey":
		cs, err := readRecipients(recipients, *shares, *threshold)
		if err != nil {
			return err
		}
		if sub == "rekey" {
			p, err := c.ProposeRekey(env.ctx, &api.RekeyRequest{Threshold: *threshold, Custodians: cs})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "rekey proposal %s: %d of %d new custodians (%s)\n", p.ID, p.Threshold, len(p.Custodians), names(cs))
			fmt.Fprintf(env.stdout, "%d current custodians must approve it within the partial unlock window, each with:\n    signet custody approve --share FILE --identity AGE-KEY --out DIR\n", p.Progress.Threshold)
			return nil
		}
		if err := checkOut(*out, cs); err != nil {
			return err
		}
		pass, err := readPassphrase(env, *passFile, false)
		if err != nil {
			return err
		}
		resp, err := c.CustodyInit(env.ctx, &api.CustodyInitRequest{Passphrase: string(pass), Threshold: *threshold, Custodians: cs})
		if err != nil {
			return err
		}
		if err := writeShares(env, *out, resp); err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, "the passphrase no longer unlocks the keystore; hand each custodian their share file")
	case "approve":
		if *shareFile == "" || *identity == "" {
			return usagef("usage: signet custody approve --share FILE --identity AGE-KEY [--proposal ID] [--out DIR]")
		}
		if *proposal == "" {
			st, err := c.Status(env.ctx)
			if err != nil {
				return err
			}
			if st.Rekey == nil {
				return hintf("an admin proposes one with 'signet custody rekey'", "no rekey proposal is pending")
			}
			*proposal = st.Rekey.ID
			if err := checkOut(*out, st.Rekey.Custodians); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "approving rekey proposal %s by %s: %d of %d new custodians (%s)\n", st.Rekey.ID, st.Rekey.By, st.Rekey.Threshold, len(st.Rekey.Custodians), names(st.Rekey.Custodians))
		}
		sh, err := readShare(*shareFile, *identity)
		if err != nil {
			return err
		}
		resp, err := c.ApproveRekey(env.ctx, &api.RekeyApproval{Proposal: *proposal, Share: sh})
		sh.Wipe()
		if err != nil {
			return err
		}
		a := resp.Share
		fmt.Fprintf(env.stdout, "share %d (%s) approves: %d of %d\n", a.Index, a.Custodian, a.Received, a.Threshold)
		if resp.New != nil {
			if err := writeShares(env, *out, resp.New); err != nil {
				return err
			}
			fmt.Fprintln(env.stdout, "rekeyed: the old shares no longer work; hand each new custodian their share file")
		}
	case "reset":
		resp, err := c.ResetCustody(env.ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "discarded %d share(s) and any pending rekey proposal\n", len(resp.Discarded))
	default:
		return usagef("unknown custody subcommand %q: use init, rekey, approve or reset", sub)
	}
	return nil
}

func names(cs []custody.Custodian) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

// readRecipients reads [NAME=]FILE arguments: each file holds one age
// public key; the name defaults to the file name without its extension.
func readRecipients(args []string, shares, threshold int) ([]custody.Custodian, error) {
	if len(args) == 0 || threshold == 0 {
		return nil, usagef("usage: signet custody init|rekey --threshold N --recipient [NAME=]AGE-PUBLIC-KEY-FILE... [--shares M]")
	}
	if shares != 0 && shares != len(args) {
		return nil, usagef("--shares %d but %d --recipient files: give one recipient per share", shares, len(args))
	}
	var cs []custody.Custodian
	for _, a := range args {
		name, file, ok := strings.Cut(a, "=")
		if !ok {
			file = a
			name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if _, err := custody.ParseRecipient(string(b)); err != nil {
			return nil, hintf("give the custodian's public key: 'age-keygen -y alice.key > alice.pub'", "%s: %w", file, err)
		}
		cs = append(cs, custody.Custodian{Name: name, Recipient: strings.TrimSpace(string(b))})
	}
	if err := custody.Check(threshold, cs); err != nil {
		return nil, usagef("%v", err)
	}
	return cs, nil
}

// checkOut makes sure dir can take a NAME.share file for every custodian
// before the server creates a share set that exists nowhere else.
func checkOut(dir string, cs []custody.Custodian) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, c := range cs {
		name := filepath.Join(dir, safeFileName(c.Name)+".share")
		if _, err := os.Lstat(name); err == nil {
			return hintf("move the old share files away, or choose another --out DIR", "%s already exists", name)
		}
	}
	return nil
}

// writeShares writes one NAME.share file per custodian into dir, never
// replacing a file. The server already uses the new set, so a share that
// cannot be written is printed rather than lost.
func writeShares(env *cmdEnv, dir string, s *api.CustodyShares) error {
	var failed error
	for _, f := range s.Shares {
		name := filepath.Join(dir, safeFileName(f.Custodian)+".share")
		fh, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = fh.Write(f.File)
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "signet: cannot write %s (%v); here is the share file of %s, save it:\n%s", name, err, f.Custodian, f.File)
			failed = fmt.Errorf("%d share file(s) not written; they were printed above", len(s.Shares))
			continue
		}
		fmt.Fprintf(env.stdout, "%s\n", name)
	}
	if failed != nil {
		return failed
	}
	fmt.Fprintf(env.stdout, "share set %s: %d of %d custodians\n", s.Set.ID, s.Set.Threshold, len(s.Set.Custodians))
	return nil
}

// safeFileName keeps a custodian name usable as a file name.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r < ' ' {
			return '_'
		}
		return r
	}, strings.TrimLeft(s, "."))
}

func runHSM(env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "enroll" {
		return usagef("hsm: the only subcommand is 'enroll NAME'")
	}
	fs := flag.NewFlagSet("hsm enroll", flag.ContinueOnError)
	cf := clientFlags(fs)
	pinFile := fs.String("pin-file", "", "")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: signet hsm enroll NAME [--pin-file FILE]")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	pin, err := readPassphrase(env, *pinFile, false)
	if err != nil {
		return err
	}
	if err := c.EnrollToken(env.ctx, pos[0], string(pin)); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "token %s enrolled: its user PIN is now derived from the keystore and known to nobody\n", pos[0])
	return nil
}
