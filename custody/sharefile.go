package custody

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// ParseRecipient parses one age recipient ("age1…", or "age1pq1…" for the
// post-quantum hybrid). A recipient file may hold comment lines starting
// with "#", as age-keygen writes them, and exactly one recipient.
func ParseRecipient(s string) (age.Recipient, error) {
	var line string
	for l := range strings.Lines(s) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if line != "" {
			return nil, errors.New("more than one recipient; give each custodian one age public key")
		}
		line = l
	}
	if line == "" {
		return nil, errors.New("no age recipient; give the output of 'age-keygen -y KEY' (age1…)")
	}
	rs, err := age.ParseRecipients(strings.NewReader(line))
	if err != nil {
		return nil, fmt.Errorf("age recipient %.20q…: %v", line, err)
	}
	return rs[0], nil
}

// ParseIdentities parses an age identity file, as age-keygen writes it.
func ParseIdentities(b []byte) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("age identity file: %v", err)
	}
	return ids, nil
}

// EncryptShare returns the share file of sh for its custodian in s.
func (s *Set) EncryptShare(sh Share) ([]byte, error) {
	name := s.Custodian(sh.Index)
	if name == "" || sh.Set != s.ID {
		return nil, fmt.Errorf("%v is not a share of set %s", sh, s.ID)
	}
	r, err := ParseRecipient(s.Custodians[sh.Index-1].Recipient)
	if err != nil {
		return nil, err
	}
	plain, err := sh.marshal()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# signet custody share %d of %d (threshold %d) for %s\n", sh.Index, len(s.Custodians), s.Threshold, oneLine(name))
	fmt.Fprintf(&buf, "# set %s, created %s\n", s.ID, s.Created)
	fmt.Fprintf(&buf, "# submit it with: signet unlock --share FILE --identity YOUR-AGE-KEY\n")
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// oneLine keeps a name on its comment line.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

func (sh Share) marshal() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"set":%q,"index":%d,"value":%q}`+"\n", sh.Set, sh.Index, encode(sh.Value))), nil
}

// ShareFile is a parsed, still encrypted share file.
type ShareFile struct {
	Comments []string // the "#" lines, without "#", for display only: unauthenticated
	armored  []byte
}

// ParseShareFile parses a share file without decrypting it.
func ParseShareFile(b []byte) (*ShareFile, error) {
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("share file: %w: larger than %d KiB", ErrMalformed, maxFileSize>>10)
	}
	f := &ShareFile{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxFileSize)
	var body bytes.Buffer
	state := 0 // 0: before the armor, 1: inside, 2: after
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case state == 0 && strings.HasPrefix(line, "#"):
			f.Comments = append(f.Comments, strings.TrimSpace(line[1:]))
		case state == 0 && strings.TrimSpace(line) == "":
		case state == 0 && line == armor.Header:
			state = 1
			body.WriteString(line + "\n")
		case state == 1:
			body.WriteString(line + "\n")
			if line == armor.Footer {
				state = 2
			}
		case state == 2 && strings.TrimSpace(line) == "":
		default:
			return nil, fmt.Errorf("share file line %d: %w: expected comment lines starting with '#' and one %s block", n, ErrMalformed, armor.Header)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("share file: %w: %v", ErrMalformed, err)
	}
	if state != 2 {
		return nil, fmt.Errorf("share file: %w: no complete %s block; is this a signet share file?", ErrMalformed, armor.Header)
	}
	f.armored = body.Bytes()
	return f, nil
}

// Decrypt decrypts f with the custodian's age identities and parses the
// share inside.
func (f *ShareFile) Decrypt(ids ...age.Identity) (Share, error) {
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(f.armored)), ids...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return Share{}, fmt.Errorf("%w: it was encrypted to another custodian's key", ErrNoIdentity)
		}
		return Share{}, fmt.Errorf("share file: %w: %v", ErrMalformed, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, 4096))
	defer clear(plain)
	if err != nil {
		return Share{}, fmt.Errorf("share file: %w: %v", ErrMalformed, err)
	}
	return ParseShare(plain)
}
