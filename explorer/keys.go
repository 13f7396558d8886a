package explorer

import (
	"time"

	"github.com/signet-dev/signet/keystore"
)

// keyInfo is what the explorer shows of a key.
type keyInfo struct {
	Name        string
	Type        string
	Usage       string
	Fingerprint string
	Created     time.Time
	Backend     string
	Signs       bool // signs artifacts (not the log's or the tokens' key)
	Versions    []version
}

// A version is one key pair of a key and its validity window.
type version struct {
	Number    int
	State     string // "active", "retired" or "revoked"
	NotBefore time.Time
	NotAfter  time.Time // zero: until rotated
	Revoked   time.Time // zero unless revoked
	Reason    string
}

// keyInfoOf describes k with its versions and their windows. A key the
// keystore lists without versions is one version, active since it was
// created.
func keyInfoOf(k keystore.Key) keyInfo {
	backend := k.Backend
	if backend == "" {
		backend = "file"
	}
	info := keyInfo{
		Name: k.Name, Type: string(k.Type), Usage: k.Usage, Fingerprint: k.Fingerprint(), Created: k.Created, Backend: backend,
		Signs: k.Usage != "audit" && k.Usage != "token" && k.Usage != "key-list",
	}
	for _, v := range k.Versions {
		info.Versions = append(info.Versions, version{Number: v.Number, State: string(v.State), NotBefore: v.NotBefore,
			NotAfter: v.NotAfter, Revoked: v.Revoked, Reason: string(v.Reason)})
	}
	if len(info.Versions) == 0 {
		info.Versions = []version{{Number: 1, State: "active", NotBefore: k.Created}}
	}
	return info
}
