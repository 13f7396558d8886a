package keystore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/signet-dev/signet/custody"
)

// Unlock methods, as Mode reports them.
const (
	ModePassphrase = "passphrase" // one passphrase unlocks
	ModeCustody    = "custody"    // a quorum of custodians' shares unlocks
)

// Mode reports how d unlocks: ModePassphrase or ModeCustody.
func (d *Dir) Mode() string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.hdr.mode()
}

// Custody returns the share set of a keystore in custody, or nil.
func (d *Dir) Custody() *custody.Set {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.hdr.set
}

// ShareFile is one custodian's encrypted share, to hand to them.
type ShareFile struct {
	Index     int    `json:"index"`
	Custodian string `json:"custodian"`
	File      []byte `json:"file"` // the share file (custody package), age-encrypted to the custodian
}

// custodyKEK unwraps the KEK of a header in custody with the secret.
func (h *header) custodyKEK(secret []byte) ([]byte, error) {
	if h.set == nil {
		return nil, fmt.Errorf("%w: the keystore is not in custody; unlock it with its passphrase", ErrMode)
	}
	wk := custodyWrapKey(secret, h.set)
	defer clear(wk)
	kek, ok := h.unwrap(wk)
	if !ok {
		return nil, errors.New("the custodians' secret does not unwrap the key-encryption key: keystore.json does not belong to this share set; restore it from a backup")
	}
	return kek, nil
}

// InitCustody hands a passphrase keystore over to custodians: it splits a
// new secret among them, threshold of whom will be needed to unlock, wraps
// the KEK under it, and replaces the header, so that the passphrase stops
// working. It returns the new set and the encrypted share file of every
// custodian; the secret itself is never stored.
func (d *Dir) InitCustody(passphrase []byte, threshold int, custodians []custody.Custodian, now time.Time) (*custody.Set, []ShareFile, error) {
	return d.initCustody(passphrase, threshold, custodians, now, nil)
}

// initCustody is InitCustody, recording the new set with record before
// the header is replaced.
func (d *Dir) initCustody(passphrase []byte, threshold int, custodians []custody.Custodian, now time.Time, record Record[*custody.Set]) (*custody.Set, []ShareFile, error) {
	d.mu.RLock()
	h := d.hdr
	d.mu.RUnlock()
	switch {
	case h.set != nil:
		return nil, nil, fmt.Errorf("custody init: %w: the keystore is already in custody; use 'signet custody rekey' to change custodians", ErrMode)
	case h.Version == 1:
		return nil, nil, fmt.Errorf("custody init: %w: keystore %s is format 1, whose key-encryption key is the passphrase's hash itself, so the passphrase would keep opening the key files; create a new keystore with 'signet keystore init' and new keys", ErrMode, d.path)
	}
	kek, ok := h.passphraseKEK(passphrase)
	if !ok {
		return nil, nil, fmt.Errorf("custody init: %w; custody init needs the current passphrase", ErrBadPassphrase)
	}
	defer clear(kek)
	return d.replaceCustody(kek, threshold, custodians, now, record)
}

// rekey replaces the share set, given the secret of the current one.
func (d *Dir) rekey(secret []byte, threshold int, custodians []custody.Custodian, now time.Time) (*custody.Set, []ShareFile, error) {
	d.mu.RLock()
	h := d.hdr
	d.mu.RUnlock()
	kek, err := h.custodyKEK(secret)
	if err != nil {
		return nil, nil, fmt.Errorf("rekey: %w", err)
	}
	defer clear(kek)
	return d.replaceCustody(kek, threshold, custodians, now, nil)
}

// replaceCustody writes a header that wraps kek under a new share set,
// recorded first with record.
func (d *Dir) replaceCustody(kek []byte, threshold int, custodians []custody.Custodian, now time.Time, record Record[*custody.Set]) (*custody.Set, []ShareFile, error) {
	secret, set, shares, err := custody.Split(threshold, custodians, now)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		clear(secret)
		for i := range shares {
			shares[i].Wipe()
		}
	}()
	// Encrypt every share before touching the header: a failure here
	// leaves the keystore as it was.
	files := make([]ShareFile, len(shares))
	for i, sh := range shares {
		f, err := set.EncryptShare(sh)
		if err != nil {
			return nil, nil, fmt.Errorf("encrypting the share of custodian %q: %w", set.Custodian(sh.Index), err)
		}
		files[i] = ShareFile{Index: sh.Index, Custodian: set.Custodian(sh.Index), File: f}
	}
	raw, err := set.Marshal()
	if err != nil {
		return nil, nil, err
	}
	h := header{Version: version2, Custody: raw, set: set}
	wk := custodyWrapKey(secret, set)
	defer clear(wk)
	h.wrap(wk, kek)
	data, err := marshal(h)
	if err != nil {
		return nil, nil, err
	}
	if err := record.call(set); err != nil {
		return nil, nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := writeReplace(filepath.Join(d.path, headerFile), data); err != nil {
		return nil, nil, fmt.Errorf("writing the keystore header: %w", err)
	}
	d.hdr = h
	return set, files, nil
}

// writeReplace atomically replaces path with data (mode 0600).
func writeReplace(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return err
	}
	dh, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer dh.Close()
	return dh.Sync()
}
