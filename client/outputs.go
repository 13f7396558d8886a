package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-dev/signet/api"
	"github.com/signet-dev/signet/audit"
)

// Signet writes its outputs next to the files it signs: signatures
// (FILE.sig, FILE.asc, FILE.minisig), audit receipts (SIG.receipt),
// attestations (FILE.intoto.json) and catalog signatures (Release.gpg,
// InRelease). A batch fed by 'find dist -type f' lists them too on its
// second run; signing them would sign signatures, log each act and make
// incident reports list them as artifacts. So lists leave them out, and a
// signature file is replaced only by one of the same key and format.

// outputSuffixes end the names of files Signet writes beside a signed file.
var outputSuffixes = []string{".sig", ".asc", ".minisig", ".receipt", ".intoto.json"}

// outputNames are the names of catalog signatures Signet writes.
var outputNames = []string{"Release.gpg", "InRelease"}

// IsOutput reports whether path names a file of the kind Signet writes
// beside what it signs: a signature, a receipt, an attestation or a
// catalog signature.
func IsOutput(path string) bool {
	base := filepath.Base(path)
	for _, n := range outputNames {
		if base == n {
			return true
		}
	}
	for _, s := range outputSuffixes {
		if strings.HasSuffix(base, s) && len(base) > len(s) {
			return true
		}
	}
	return false
}

// LeaveOutOutputs splits a listed set of files into those to sign and
// those Signet wrote itself (IsOutput), keeping the order of each.
func LeaveOutOutputs(paths []string) (sign, outputs []string) {
	for _, p := range paths {
		if IsOutput(p) {
			outputs = append(outputs, p)
		} else {
			sign = append(sign, p)
		}
	}
	return sign, outputs
}

// ErrOtherSignature is the error of a signature file that signing would
// replace with one of another key or format.
var ErrOtherSignature = errors.New("holds another signature")

// CheckReplace returns nil if a signature of key in format may be written
// to the file name: it does not exist, or it holds a signature Signet made
// with the same key in the same format (a file signed again after it
// changed). Which key and format made it is read from its receipt,
// name.receipt; without one, ours (if not nil) tells whether the
// signature verifies with the key. Anything else wraps
// ErrOtherSignature and says what the file holds.
func CheckReplace(name, key, format string, ours func(sig []byte) bool) error {
	sig, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	made, known := receiptMaker(name + ".receipt")
	if made.format == "" {
		made.format = "raw"
	}
	switch {
	case known && made.key == key && made.format == format:
		return nil
	case known:
		return fmt.Errorf("%s %w: a %s signature by key %q (as %s.receipt records), which a %s signature by key %q would replace",
			name, ErrOtherSignature, made.format, made.key, filepath.Base(name), format, key)
	case ours != nil && ours(sig):
		return nil
	}
	return fmt.Errorf("%s %w: a signature Signet did not write with key %q in format %s (it has no receipt, and does not verify with the key)",
		name, ErrOtherSignature, key, format)
}

// SignsIn reports whether key k may sign in format, as far as its usage
// tells (a server that does not say signs in any). A key that may not is
// refused by the server, which says why; checks of the files a signature
// would replace wait for that answer.
func SignsIn(k *api.Key, format string) bool {
	usage := format
	if strings.HasPrefix(format, "pgp") {
		usage = "pgp"
	}
	return k.Usage == "" || k.Usage == usage
}

type maker struct{ key, format string }

// receiptMaker returns the key and format recorded in the receipt file
// name, and whether it could be read.
func receiptMaker(name string) (maker, bool) {
	b, err := os.ReadFile(name)
	if err != nil {
		return maker{}, false
	}
	var r audit.Receipt
	if json.Unmarshal(b, &r) != nil {
		return maker{}, false
	}
	e, err := audit.ParseEntry(r.Entry)
	if err != nil || e.Key == nil {
		return maker{}, false
	}
	return maker{e.Key.Name, e.Format}, true
}

// Size formats a byte count with a binary unit, as people read sizes:
// "512 B", "1.5 KiB", "100.0 MiB".
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
