//go:build !linux

package harden

import "errors"

var errUnsupported = errors.New("not supported on this operating system")

// Process does nothing outside Linux and reports so.
func Process() Report {
	return Report{NotDumpable: errUnsupported, NoCore: errUnsupported, Mlock: errUnsupported}
}

// Dumpable reports that it cannot tell.
func Dumpable() (bool, error) { return true, errUnsupported }
