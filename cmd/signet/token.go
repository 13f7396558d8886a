package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/signet-dev/signet/api"
)

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runToken(env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return usagef("token needs a subcommand: issue, inspect or deny")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("token "+sub, flag.ContinueOnError)
	cf := clientFlags(fs)
	var req api.TokenRequest
	var keys, formats, names, ids, subjects stringList
	fs.StringVar(&req.Subject, "subject", "", "")
	fs.StringVar(&req.TTL, "ttl", "1h", "")
	fs.Var(&keys, "key", "")
	fs.Var(&formats, "format", "")
	fs.Var(&names, "name", "")
	fs.IntVar(&req.MaxItems, "max-items", 0, "")
	fs.StringVar(&req.BindCert, "bind-cert", "", "")
	fs.Var(&ids, "id", "")
	fs.Var(&subjects, "deny-subject", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	switch sub {
	case "issue":
		if req.Subject == "" || len(keys) == 0 || len(pos) > 0 {
			return usagef("usage: signet token issue --subject JOB --key NAME [--format raw] [--ttl 1h] [--name PATTERN]... [--max-items N] [--bind-cert FINGERPRINT]")
		}
		if len(formats) == 0 {
			formats = stringList{"raw"}
		}
		req.Keys, req.Formats, req.Artifacts = keys, formats, names
		resp, err := c.IssueToken(env.ctx, &req)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, resp.Token)
		fmt.Fprintf(env.stderr, "token %s for %q, valid until %s\n", resp.Claims.ID, resp.Claims.Subject,
			time.Unix(resp.Claims.Expiry, 0).UTC().Format(time.RFC3339))
	case "inspect":
		if len(pos) != 1 {
			return usagef("usage: signet token inspect TOKEN")
		}
		resp, err := c.VerifyToken(env.ctx, pos[0])
		if err != nil {
			return err
		}
		if !resp.Valid {
			return fmt.Errorf("token not valid: %s", resp.Error)
		}
		b, _ := json.MarshalIndent(resp.Claims, "", "  ")
		fmt.Fprintf(env.stdout, "%s\n", b)
		fmt.Fprintf(env.stdout, "valid: expires %s (in %s)\n", time.Unix(resp.Claims.Expiry, 0).UTC().Format(time.RFC3339),
			time.Until(time.Unix(resp.Claims.Expiry, 0)).Round(time.Second))
	case "deny":
		if len(ids)+len(subjects) == 0 || len(pos) > 0 {
			return usagef("usage: signet token deny [--id TOKEN_ID]... [--deny-subject JOB]... > deny-list.jws")
		}
		list, err := c.DenyList(env.ctx, &api.DenyListRequest{IDs: ids, Subjects: subjects})
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, list)
	default:
		return usagef("unknown token subcommand %q: use issue, inspect or deny", sub)
	}
	return nil
}
