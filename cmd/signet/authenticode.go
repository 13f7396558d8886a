package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/client"
	"github.com/signet-dev/signet/format/authenticode"
	"github.com/signet-dev/signet/keycert"
)

// certOptions are the flags of 'signet key cert'.
type certOptions struct {
	csr         *bool
	subject     *string
	importChain *string
}

func certFlags(fs *flag.FlagSet) *certOptions {
	return &certOptions{
		csr:         fs.Bool("csr", false, ""),
		subject:     fs.String("subject", "", ""),
		importChain: fs.String("import-chain", "", ""),
	}
}

const keyCertUsage = "usage: signet key cert NAME [--csr [--subject 'CN=…,O=…'] | --import-chain chain.pem]"

// runKeyCert prints a certificate request made by a key, attaches a
// certificate chain to it, or prints the chain attached.
func runKeyCert(env *cmdEnv, c *client.Client, pos []string, o *certOptions) error {
	switch {
	case len(pos) != 1:
		return usagef("%s", keyCertUsage)
	case *o.csr && *o.importChain != "":
		return hintf("first 'signet key cert NAME --csr > NAME.csr'; once your CA has issued the certificate, 'signet key cert NAME --import-chain chain.pem'",
			"--csr and --import-chain are two steps, not one command")
	case *o.subject != "" && !*o.csr:
		return usagef("--subject goes with --csr")
	}
	key := pos[0]
	switch {
	case *o.csr:
		r, err := c.KeyCSR(env.ctx, key, *o.subject)
		if err != nil {
			return err
		}
		_, err = io.WriteString(env.stdout, r.CSR)
		return err
	case *o.importChain != "":
		b, err := readChainFile(*o.importChain)
		if err != nil {
			return err
		}
		kc, err := c.AttachChain(env.ctx, key, b)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "attached to key %s: %s, serial %s, issued by %s, valid until %s\n",
			kc.Key, kc.Subject, kc.Serial, kc.Issuer, kc.NotAfter.UTC().Format(time.RFC3339))
		return nil
	}
	kc, err := c.KeyChain(env.ctx, key)
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == "no_certificate" {
			return hintf(fmt.Sprintf("'signet key cert %s --csr > %s.csr', have your CA issue a code-signing certificate, then 'signet key cert %s --import-chain chain.pem'", key, key, key), "%w", err)
		}
		return err
	}
	_, err = io.WriteString(env.stdout, kc.Chain)
	return err
}

// readChainFile reads a PEM chain, refusing files far larger than any
// chain before reading them whole.
func readChainFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, keycert.MaxChainSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > keycert.MaxChainSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a certificate chain", path, keycert.MaxChainSize)
	}
	return b, nil
}

// signAuthenticode signs PE files in place, or one to out, time-stamped
// by the RFC 3161 authority at tsa unless it is "", and writes each signed
// file's audit receipt beside it.
func signAuthenticode(env *cmdEnv, c *client.Client, key string, files []string, out, tsa string) error {
	outs := append([]string(nil), files...)
	if out != "" {
		outs[0] = out
	}
	signed, err := c.SignAuthenticodeWith(env.ctx, key, files, outs, client.AuthenticodeOptions{Timestamp: tsa})
	if errors.Is(err, authenticode.ErrNotPE) {
		err = hintf("Authenticode signs Windows PE files (.exe, .dll, .sys …); sign other files with --format raw, pgp or minisign", "%w", err)
	}
	for _, s := range signed {
		if rerr := writeReceipt(s.Out+".receipt", s.Receipt); rerr != nil && err == nil {
			err = rerr
		}
		replaced := ""
		if s.Replaced {
			replaced = " (its previous signature replaced)"
		}
		stamped := ""
		if s.Timestamp != nil {
			stamped = fmt.Sprintf(", time-stamped %s by %s", s.Timestamp.Time.UTC().Format(time.RFC3339), s.Timestamp.Certificate.Subject)
		}
		fmt.Fprintf(env.stdout, "%s: signed by %s%s%s\n", s.Out, s.Signer.Subject, stamped, replaced)
	}
	return err
}

// signatureIn reads the signature that receipt entry e records from file:
// the file itself, or the Authenticode signature embedded in a PE file.
func signatureIn(file string, e *audit.Entry) ([]byte, error) {
	if e.Format == "authenticode" {
		sig, err := client.PESignature(file)
		if err != nil {
			return nil, err
		}
		// The log records the signature the server made; a time-stamp
		// countersignature was added to it afterwards.
		return authenticode.WithoutTimestamp(sig)
	}
	return os.ReadFile(file)
}
