//go:build !linux

package agent

import (
	"errors"
	"net"
)

// PeerCredentials needs Linux's SO_PEERCRED and SO_PEERGROUPS.
func PeerCredentials(net.Conn) (*Caller, error) {
	return nil, errors.New("signet agent needs Linux: it learns who calls from SO_PEERCRED and SO_PEERGROUPS")
}
