package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
)

// runKeyLifecycle runs 'signet key rotate|revoke|versions|transition'
// (docs/rotation.md).
func runKeyLifecycle(env *cmdEnv, sub string, args []string) error {
	fs := flag.NewFlagSet("key "+sub, flag.ContinueOnError)
	cf := clientFlags(fs)
	version := fs.Int("version", 0, "")
	reason := fs.String("reason", "", "")
	out := fs.String("o", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	usages := map[string]string{
		"rotate":     "usage: signet key rotate NAME",
		"revoke":     "usage: signet key revoke NAME --version V --reason compromised|superseded|retired",
		"versions":   "usage: signet key versions NAME",
		"transition": "usage: signet key transition OLD NEW [--reason TEXT] [-o FILE]",
	}
	want := map[string]int{"rotate": 1, "revoke": 1, "versions": 1, "transition": 2}[sub]
	if len(pos) != want {
		return usagef("%s", usages[sub])
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	switch sub {
	case "rotate":
		k, err := c.RotateKey(env.ctx, pos[0])
		if err != nil {
			return err
		}
		warnUnconfirmed(env, k)
		v := activeVersion(k)
		fmt.Fprintf(env.stdout, "key %s: version %d is active (%s), from %s %s\n", k.Name, v.Version, v.Fingerprint, v.NotBefore.UTC().Format(time.RFC3339), until(v.NotAfter))
		if k.OpenPGPFingerprint != "" {
			fmt.Fprintf(env.stdout, "OpenPGP subkey %s of %s: publish the key again ('signet key public %s --format openpgp')\n", v.OpenPGPFingerprint, k.OpenPGPFingerprint, k.Name)
		}
	case "revoke":
		if *version < 1 || *reason == "" {
			return hintf("'signet key versions "+pos[0]+"' lists the versions", "%s", usages[sub])
		}
		k, err := c.RevokeKey(env.ctx, pos[0], *version, *reason)
		if err != nil {
			return err
		}
		warnUnconfirmed(env, k)
		fmt.Fprintf(env.stdout, "key %s: version %d revoked (%s)\n", k.Name, *version, *reason)
		if k.Version == 0 {
			fmt.Fprintf(env.stdout, "key %s has no active version now: nothing signs with it until 'signet key rotate %s'\n", k.Name, k.Name)
		}
		if k.OpenPGPFingerprint != "" {
			fmt.Fprintf(env.stdout, "publish the key again ('signet key public %s --format openpgp'): its users learn the revocation from it\n", k.Name)
		} else {
			fmt.Fprintf(env.stdout, "publish the signed key list again ('signet key public %s --format key-list'): its verifiers learn the revocation from it\n", k.Name)
		}
	case "versions":
		k, err := c.Key(env.ctx, pos[0])
		if err != nil {
			return err
		}
		return printVersions(env, k)
	case "transition":
		resp, err := c.Transition(env.ctx, pos[0], pos[1], *reason)
		if err != nil {
			return err
		}
		name := *out
		if name == "" {
			name = pos[0] + "-to-" + pos[1] + ".transition.json"
		}
		if err := client.WriteSignature(name, append(resp.Statement, '\n'), resp.Receipt); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s\n", name)
	}
	return nil
}

func activeVersion(k *api.Key) api.KeyVersion {
	for _, v := range k.Versions {
		if v.Version == k.Version {
			return v
		}
	}
	return api.KeyVersion{}
}

func until(t time.Time) string {
	if t.IsZero() {
		return "until the next rotation"
	}
	return "until " + t.UTC().Format(time.RFC3339)
}

// printVersions prints a key's versions as a table.
func printVersions(env *cmdEnv, k *api.Key) error {
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tNOT BEFORE\tNOT AFTER\tFINGERPRINT\tREVOKED")
	for _, v := range k.Versions {
		end, rev := "-", ""
		if !v.NotAfter.IsZero() {
			end = v.NotAfter.UTC().Format(time.RFC3339)
		}
		if v.State == "revoked" {
			rev = v.Revoked.UTC().Format(time.RFC3339) + " " + v.Reason
		}
		fp := v.Fingerprint
		if v.OpenPGPFingerprint != "" {
			fp = v.OpenPGPFingerprint
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.State, v.NotBefore.UTC().Format(time.RFC3339), end, fp, rev)
	}
	return tw.Flush()
}

// runVerifyTransition checks a transition statement against the old key
// the verifier trusts.
func runVerifyTransition(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("verify-transition", flag.ContinueOnError)
	oldFile := fs.String("old", "", "")
	logKey := fs.String("log-key", os.Getenv("SIGNET_LOG_KEY"), "")
	newOut := fs.String("new-key-out", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *oldFile == "" {
		return usagef("usage: signet verify-transition --old OLD-KEY (PEM or OpenPGP certificate) [--log-key KEY] [--new-key-out PEM] STATEMENT")
	}
	b, err := os.ReadFile(*oldFile)
	if err != nil {
		return err
	}
	trusted, err := client.ParseTrustedKey(b)
	if err != nil {
		return hintf("give the old key as you trust it: 'signet key public OLD' (PEM) or its OpenPGP certificate", "%s: %w", *oldFile, err)
	}
	statement, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	var receipt *audit.Receipt
	if rb, err := os.ReadFile(pos[0] + ".receipt"); err == nil {
		receipt = new(audit.Receipt)
		if err := json.Unmarshal(rb, receipt); err != nil {
			return fmt.Errorf("%s.receipt: not a receipt: %w", pos[0], err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	st, err := client.VerifyTransition(statement, receipt, trusted, *logKey)
	if err != nil {
		if strings.Contains(err.Error(), "--log-key") {
			return hintf("get the log's key once with 'signet audit key' and pin it ($SIGNET_LOG_KEY); keep "+pos[0]+".receipt beside the statement", "%s: %w", pos[0], err)
		}
		return fmt.Errorf("%s: BAD transition: %w", pos[0], err)
	}
	fmt.Fprintf(env.stdout, "good transition: key %s (%s) is replaced by key %s (%s) since %s\n",
		st.Old.Name, st.Old.Fingerprint, st.New.Name, st.New.Fingerprint, st.Time.UTC().Format(time.RFC3339))
	if st.New.OpenPGPFingerprint != "" {
		fmt.Fprintf(env.stdout, "new OpenPGP fingerprint %s\n", st.New.OpenPGPFingerprint)
	}
	if st.Reason != "" {
		fmt.Fprintf(env.stdout, "reason: %s\n", st.Reason)
	}
	if receipt != nil && *logKey != "" {
		fmt.Fprintf(env.stdout, "recorded in the audit log as entry %d\n", receipt.Index)
	}
	if *newOut != "" {
		return os.WriteFile(*newOut, []byte(st.New.PublicKey), 0o644)
	}
	return nil
}

// runVerifyKeyList checks a signed key list against the root key.
func runVerifyKeyList(env *cmdEnv, args []string) error {
	fs := flag.NewFlagSet("verify-key-list", flag.ContinueOnError)
	rootFile := fs.String("root", "", "")
	key := fs.String("key", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *rootFile == "" {
		return usagef("usage: signet verify-key-list --root ROOT.pem [--key NAME] KEY-LIST.json")
	}
	root, err := readPublicKey(*rootFile)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	l, err := client.VerifyKeyList(b, root, *key)
	if err != nil {
		return fmt.Errorf("%s: BAD key list: %w", pos[0], err)
	}
	fmt.Fprintf(env.stdout, "good key list of key %s (%s, usage %s), serial %d, issued %s\n", l.Key, l.KeyType, l.Usage, l.Serial, l.Issued.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tNOT BEFORE\tNOT AFTER\tFINGERPRINT\tREVOKED")
	for _, v := range l.Versions {
		end, rev := "-", ""
		if !v.NotAfter.IsZero() {
			end = v.NotAfter.UTC().Format(time.RFC3339)
		}
		if v.State == "revoked" {
			rev = v.Revoked.UTC().Format(time.RFC3339) + " " + v.Reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.State, v.NotBefore.UTC().Format(time.RFC3339), end, v.Fingerprint, rev)
	}
	return tw.Flush()
}

// writeKeyList prints the signed key list of key name.
func writeKeyList(env *cmdEnv, c *client.Client, name string) error {
	l, err := c.KeyList(env.ctx, name)
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(append([]byte(l.KeyList), '\n'))
	return err
}

// warnUnconfirmed tells which replicas of a fleet had not loaded a key
// change when the server answered (docs/operations.md#the-fleet-keystore).
func warnUnconfirmed(env *cmdEnv, k *api.Key) {
	if len(k.UnconfirmedReplicas) > 0 {
		fmt.Fprintf(env.stderr, "warning: key %s: replicas %s had not confirmed this change; they may still act on the key as it was: check them ('signet status')\n",
			k.Name, strings.Join(k.UnconfirmedReplicas, ", "))
	}
}
