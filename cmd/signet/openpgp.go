package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-dev/signet/client"
)

// paramFlags collects repeated --param K=V.
type paramFlags map[string]string

func (p paramFlags) String() string { return "" }

func (p paramFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("--param %q is not K=V", v)
	}
	if _, dup := p[k]; dup {
		return fmt.Errorf("--param %s given twice", k)
	}
	p[k] = val
	return nil
}

func runCatalog(env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "sign" {
		return usagef("usage: signet catalog sign NAME [--param K=V]... (--sha256 HEX | INDEX) [-o DIR]")
	}
	fs := flag.NewFlagSet("catalog sign", flag.ContinueOnError)
	cf := clientFlags(fs)
	params := paramFlags{}
	fs.Var(params, "param", "")
	sumHex := fs.String("sha256", "", "")
	outDir := fs.String("o", "", "")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 || (len(pos) == 2) == (*sumHex != "") {
		return usagef("usage: signet catalog sign NAME [--param K=V]... (--sha256 HEX | INDEX) [-o DIR]")
	}
	name := pos[0]
	var sum, index []byte
	dir := "."
	if len(pos) == 2 {
		if index, err = os.ReadFile(pos[1]); err != nil {
			return err
		}
		s := sha256.Sum256(index)
		sum, dir = s[:], filepath.Dir(pos[1])
	} else if sum, err = hex.DecodeString(*sumHex); err != nil || len(sum) != sha256.Size {
		return hintf("compute it with 'sha256sum INDEX', or give the INDEX file instead", "--sha256 %q is not 64 hex digits", *sumHex)
	}
	if *outDir != "" {
		dir = *outDir
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	res, err := c.SignCatalog(env.ctx, name, params, sum, index)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == "mismatch" {
			return hintf("publish the copy the server has, or update the server's copy and try again", "%w", err)
		}
		return err
	}
	for _, f := range res.Files {
		p := filepath.Join(dir, f.Name)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, p)
	}
	fmt.Fprintf(env.stderr, "signed %s (%s): %d references verified\n", res.Path, res.Digest, res.References)
	return nil
}
