// Package api defines the JSON messages of Signet's HTTP API, version 1.
// Package server speaks it and package client calls it; docs/api.md shows
// each message on the wire.
//
// Binary values (digests aside) are standard base64 with padding, as
// encoding/json encodes []byte. Digests are written "ALG:HEX", for example
// "sha256:9f86d0…", so that the hash function travels with the value and a
// digest made for one algorithm can never be signed as another.
package api

import (
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/signet-dev/signet/audit"
	"github.com/signet-dev/signet/custody"
	"github.com/signet-dev/signet/keystore"
	"github.com/signet-dev/signet/token"
)

// SignRequest asks for signatures over one or more artifacts with one key.
// A single signature is a batch of one.
type SignRequest struct {
	// Nonce is accepted for compatibility with older clients and ignored:
	// tokens are self-contained and no replay state is kept.
	Nonce   string      `json:"nonce,omitempty"`
	Key     string      `json:"key"`
	Format  string      `json:"format"`           // "raw", "ssh", "minisign", "dsse", "pgp", "pgp-clearsign", "authenticode", "rpm", "deb", "cosign", "cosign-attestation", "cosign-digest", "notation"
	Options SignOptions `json:"options,omitzero"` // format variants
	Items   []SignItem  `json:"items"`            // 1..max_batch
}

// SignOptions select variants of a format.
type SignOptions struct {
	RSAPSS bool `json:"rsa_pss,omitempty"` // RSASSA-PSS instead of PKCS #1 v1.5
	// Namespace is the SSH signature namespace ("git", "file"); format
	// ssh requires it and no other format takes it.
	Namespace string `json:"namespace,omitempty"`
	Armor     bool   `json:"armor,omitempty"` // pgp: ASCII-armored signature instead of binary
}

// SignItem is one artifact to sign. Exactly one of Digest, Data and
// SHA256State is set: Digest for keys and formats that sign a digest (raw
// ECDSA and RSA, ssh, minisign), Data for those that sign the message
// itself (raw pure Ed25519; dsse, whose data is the in-toto statement;
// pgp-clearsign, whose data is the text; rpm, whose data is the package's
// main header), SHA256State for detached OpenPGP signatures (pgp, deb).
type SignItem struct {
	Name   string `json:"name"`             // artifact name, checked against grants
	Size   int64  `json:"size,omitempty"`   // artifact size in bytes, as the client saw it
	Digest string `json:"digest,omitempty"` // "sha256:HEX", "sha384:HEX", "sha512:HEX" or "blake2b512:HEX"
	Data   []byte `json:"data,omitzero"`    // the artifact, base64; empty (not absent) for an empty file
	// SHA256State is the artifact's SHA-256, stopped before finishing;
	// formats pgp and deb take it.
	SHA256State *HashState `json:"sha256_state,omitempty"`
	// TrustedComment is the signed comment of a minisign signature,
	// conventionally "timestamp:UNIX\tfile:NAME\thashed"; only format
	// minisign takes it.
	TrustedComment string `json:"trusted_comment,omitempty"`
	// Manifest optionally lists the files inside the artifact (a package's
	// file list, an image's layers). The server stores it beside the audit
	// log and records its digest in the signature's entry.
	Manifest []ManifestFile `json:"manifest,omitempty"`
	// Package identifies the package an item of format rpm or deb signs;
	// no other format takes it.
	Package *PackageID `json:"package,omitempty"`
}

// PackageID identifies a software package. For format rpm it is the
// NEVRA, which the server checks against the header it signs; for format
// deb, the Package, Version (whole, epoch included) and Architecture of
// the control file, which the server records as the client states them.
type PackageID struct {
	Name    string `json:"name"`
	Epoch   string `json:"epoch,omitempty"` // rpm: decimal; absent when the package has none
	Version string `json:"version"`
	Release string `json:"release,omitempty"` // rpm only
	Arch    string `json:"arch"`
}

// HashState is a SHA-256 computation stopped after the artifact's last
// byte, before padding: the server resumes it, appends the OpenPGP
// signature trailer it builds itself, and signs. docs/formats.md has the
// details and the reasons.
type HashState struct {
	Chain  []byte `json:"chain"`          // 32 bytes: the eight chaining values, big-endian, after the last whole 64-byte block
	Tail   []byte `json:"tail,omitempty"` // the length mod 64 bytes after that block
	Length int64  `json:"length"`         // bytes hashed
}

// ManifestFile is one file inside an artifact.
type ManifestFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"` // "ALG:HEX"
}

// SignResponse carries one signature per request item, in request order.
type SignResponse struct {
	RequestID      string      `json:"request_id"`
	Key            string      `json:"key"`
	KeyFingerprint string      `json:"key_fingerprint"` // of the version that signed
	KeyVersion     int         `json:"key_version,omitempty"`
	Signatures     []Signature `json:"signatures"`
}

// Signature is the signature of one item, with the receipt proving that
// the audit log recorded it.
type Signature struct {
	Name      string         `json:"name"`
	Signature []byte         `json:"signature"`
	Receipt   *audit.Receipt `json:"receipt,omitempty"`
}

// Key describes a key; it never carries private material.
type Key struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Usage       string    `json:"usage"`         // the format family it signs in
	UID         string    `json:"uid,omitempty"` // identity embedded in signatures
	Created     time.Time `json:"created"`
	Fingerprint string    `json:"fingerprint"`          // "SHA256:" + base64 of SHA-256(SPKI DER)
	PublicKey   string    `json:"public_key,omitempty"` // PEM SubjectPublicKeyInfo
	// MaxMessageBytes is set for keys that sign whole messages (Ed25519):
	// the largest artifact the server accepts for them.
	MaxMessageBytes int64 `json:"max_message_bytes,omitempty"`
	// OpenPGPFingerprint is set for OpenPGP keys: 40 hex digits, as gpg
	// prints it.
	OpenPGPFingerprint string `json:"openpgp_fingerprint,omitempty"`
	// Version is the active version, which signs; 0 if none is.
	// Fingerprint and PublicKey are the active version's, except for an
	// OpenPGP key, whose are its primary key's.
	Version  int          `json:"version,omitempty"`
	Versions []KeyVersion `json:"versions,omitempty"`
	// UnconfirmedReplicas, in the answer to a change (create, rotate,
	// revoke) on a fleet keystore, names the live replicas that had not
	// loaded the change when the answer was sent (docs/operations.md).
	UnconfirmedReplicas []string `json:"unconfirmed_replicas,omitempty"`
	// Certificate is set when a certificate chain is attached to the key
	// (GET /v1/keys/{name}/chain returns it); only in the description of
	// one key.
	Certificate bool `json:"certificate,omitempty"`
}

// KeyVersion is one version of a key: its validity window and state.
type KeyVersion struct {
	Version     int       `json:"version"`
	State       string    `json:"state"` // "active", "retired" or "revoked"
	Created     time.Time `json:"created"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after,omitzero"` // absent: until the next rotation
	Revoked     time.Time `json:"revoked,omitzero"`
	Reason      string    `json:"reason,omitempty"` // "compromised", "superseded" or "retired"
	Fingerprint string    `json:"fingerprint"`
	// OpenPGPFingerprint is the version's OpenPGP fingerprint: a
	// subkey's, or the primary's for version 1 of an OpenPGP key made
	// before versions.
	OpenPGPFingerprint string `json:"openpgp_fingerprint,omitempty"`
	PublicKey          string `json:"public_key,omitempty"` // PEM, with GET /v1/keys/{name}
}

// RevokeRequest revokes one version of a key (POST /v1/keys/{name}/revoke).
type RevokeRequest struct {
	Version int    `json:"version"`
	Reason  string `json:"reason"` // "compromised", "superseded" or "retired"
}

// TransitionRequest asks for a transition statement from key Old to key
// New, signed by both (POST /v1/transitions).
type TransitionRequest struct {
	Old    string `json:"old"`
	New    string `json:"new"`
	Reason string `json:"reason,omitempty"`
}

// TransitionResponse carries the statement (a DSSE envelope, package
// transition) and the receipt of its audit entry.
type TransitionResponse struct {
	Statement json.RawMessage `json:"statement"`
	Receipt   *audit.Receipt  `json:"receipt,omitempty"`
}

// SignedKeyList is the answer to GET /v1/keys/{name}/key-list: the key's
// versions signed by the server's key-list root key (package keylist).
type SignedKeyList struct {
	Key     string          `json:"key"`
	Root    string          `json:"root"`     // the root key's name
	KeyList json.RawMessage `json:"key_list"` // the DSSE envelope
}

// KeyList is the answer to GET /v1/keys.
type KeyList struct {
	Keys []Key `json:"keys"`
}

// CreateKeyRequest asks the server to generate a key.
type CreateKeyRequest struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Usage string `json:"usage,omitempty"` // format family; default: the type's only one, else raw
	UID   string `json:"uid,omitempty"`   // identity embedded in signatures (OpenPGP user id)
}

// OpenPGPKey is the answer to GET /v1/keys/{name}/openpgp: the key's
// OpenPGP certificate (public key, user id, self-signature), binary.
type OpenPGPKey struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"` // 40 hex digits
	UID         string `json:"uid"`
	Certificate []byte `json:"certificate"` // what 'gpg --export' would give, base64
}

// CSRRequest asks for a PKCS #10 certificate request signed by a key
// (POST /v1/keys/{name}/csr), for a CA to issue the key a code-signing
// certificate.
type CSRRequest struct {
	// Subject is the distinguished name requested, RFC 4514 style:
	// "CN=Example Release,O=Example Corp,C=US". Default: CN= the key's
	// uid, or its name.
	Subject string `json:"subject,omitempty"`
}

// CSR is a certificate request made by a key.
type CSR struct {
	Key     string `json:"key"`
	Subject string `json:"subject"`
	CSR     string `json:"csr"` // PEM CERTIFICATE REQUEST
}

// ChainRequest attaches a certificate chain to a key (PUT
// /v1/keys/{name}/chain), replacing any previous one.
type ChainRequest struct {
	Chain string `json:"chain"` // PEM certificates, leaf (the key's) first, then each issuer
}

// KeyChain is the certificate chain attached to a key.
type KeyChain struct {
	Key       string    `json:"key"`
	Chain     string    `json:"chain"`   // PEM, leaf first
	Subject   string    `json:"subject"` // of the leaf
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"` // of the leaf, hex
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// TimestampRequest asks the key's RFC 3161 time-stamp authority to date a
// digest (POST /v1/timestamp). The RFC 3161 transport itself is POST
// /v1/timestamp/{key} with a DER TimeStampReq.
type TimestampRequest struct {
	Key    string `json:"key"`               // a key created with --usage tsa, with a time-stamping certificate
	Digest string `json:"digest"`            // "sha256:HEX", "sha384:HEX" or "sha512:HEX" of what is dated
	Name   string `json:"name,omitempty"`    // what is dated, for grants and the audit log; default the digest
	Nonce  string `json:"nonce,omitempty"`   // decimal, copied into the token; default none
	NoCert bool   `json:"no_cert,omitempty"` // leave the TSA's certificates out of the token
}

// Timestamp is an issued RFC 3161 time-stamp token, with the receipt
// proving that the audit log recorded it before it was returned.
type Timestamp struct {
	RequestID string         `json:"request_id"`
	Key       string         `json:"key"`
	Token     []byte         `json:"token"` // DER TimeStampToken (CMS SignedData), base64
	Time      time.Time      `json:"time"`
	Serial    string         `json:"serial"` // hex
	Policy    string         `json:"policy"` // the TSA policy OID
	Receipt   *audit.Receipt `json:"receipt"`
}

// CatalogSignRequest asks the server to check and sign the index of a
// configured catalog (POST /v1/catalogs/{name}/sign). The server reads
// the index itself; the client only names it and says which content it
// expects.
type CatalogSignRequest struct {
	Params map[string]string `json:"params,omitempty"` // values of the catalog's path parameters
	Digest string            `json:"digest"`           // "sha256:HEX" of the index the client will publish
}

// CatalogSignResponse carries the signature files of a checked index.
type CatalogSignResponse struct {
	RequestID          string         `json:"request_id"`
	Catalog            string         `json:"catalog"`
	Path               string         `json:"path"`   // the index, relative to the catalog root
	Digest             string         `json:"digest"` // "sha256:HEX" of the index signed
	References         int            `json:"references"`
	ReferencesDigest   string         `json:"references_digest"` // "sha256:HEX" of the sorted list of verified references
	Key                string         `json:"key"`
	OpenPGPFingerprint string         `json:"openpgp_fingerprint"`
	Certificate        []byte         `json:"certificate"` // the signing key's OpenPGP certificate, to check the files with
	Files              []CatalogFile  `json:"files"`
	Receipt            *audit.Receipt `json:"receipt,omitempty"`
}

// CatalogFile is one signature file, to be placed next to the index.
type CatalogFile struct {
	Name string `json:"name"` // base name: "Release.gpg", "InRelease", "repomd.xml.asc", …
	Data []byte `json:"data"`
}

// UnlockRequest supplies the keystore passphrase or, for a keystore in
// custody, one custodian's share (decrypted by the custodian's client).
type UnlockRequest struct {
	Passphrase string         `json:"passphrase,omitempty"`
	Share      *custody.Share `json:"share,omitempty"`
}

// UnlockResponse says whether the keystore is now unlocked and, for a
// share, how far the ceremony has come.
type UnlockResponse struct {
	Unlocked bool               `json:"unlocked"`
	Share    *keystore.Accepted `json:"share,omitempty"`
}

// Status is the answer to GET /v1/status: lock state, lease, custody
// progress, tokens and keys.
type Status = keystore.Status

// LockResponse answers POST /v1/lock.
type LockResponse struct {
	WasUnlocked bool `json:"was_unlocked"`
	// RecordPending is set, with status 202, when the keystore was
	// locked but the audit log could not record it: the server keeps
	// the record and writes it as soon as the log is back.
	RecordPending bool   `json:"record_pending,omitempty"`
	Message       string `json:"message,omitempty"`
}

// CustodyInitRequest hands a passphrase keystore over to custodians.
type CustodyInitRequest struct {
	Passphrase string              `json:"passphrase"` // the current one, which stops working
	Threshold  int                 `json:"threshold"`
	Custodians []custody.Custodian `json:"custodians"` // share i+1 goes to custodians[i]
}

// CustodyShares carries a new share set: one encrypted share file per
// custodian, to hand to them.
type CustodyShares struct {
	Set    keystore.SetStatus   `json:"set"`
	Shares []keystore.ShareFile `json:"shares"`
}

// RekeyRequest proposes a new share set; a quorum of the current
// custodians must approve it.
type RekeyRequest struct {
	Threshold  int                 `json:"threshold"`
	Custodians []custody.Custodian `json:"custodians"`
}

// RekeyApproval is one current custodian's share approving a proposal.
type RekeyApproval struct {
	Proposal string        `json:"proposal"`
	Share    custody.Share `json:"share"`
}

// RekeyApprovalResponse tells how far the approval has come; with the
// last approval it carries the new share set.
type RekeyApprovalResponse struct {
	Share keystore.Accepted `json:"share"`
	New   *CustodyShares    `json:"new,omitempty"`
}

// ResetResponse lists the shares a reset discarded.
type ResetResponse struct {
	Discarded []custody.Received `json:"discarded"`
}

// EnrollRequest hands a PKCS #11 token over to the keystore.
type EnrollRequest struct {
	Token string `json:"token"` // keystore.pkcs11[].name in the config
	PIN   string `json:"pin"`   // the user PIN the token was initialized with
}

// TokenRequest asks for a token for one job. The token may do no more
// than the caller's own grants allow.
type TokenRequest struct {
	Subject   string   `json:"subject"`             // the job, e.g. "build-4711"
	TTL       string   `json:"ttl"`                 // lifetime, a Go duration such as "2h"
	Keys      []string `json:"keys"`                // key names
	Formats   []string `json:"formats"`             // e.g. ["raw"]
	Artifacts []string `json:"artifacts,omitempty"` // artifact name patterns; default ["*"]
	MaxItems  int      `json:"max_items,omitempty"` // most items per sign request; 0 = server limit
	BindCert  string   `json:"bind_cert,omitempty"` // SHA-256 fingerprint of the only client certificate that may present it
}

// TokenResponse carries a new token and its claims.
type TokenResponse struct {
	Token  string       `json:"token"`
	Claims token.Claims `json:"claims"`
}

// TokenVerifyRequest asks the server to check a token.
type TokenVerifyRequest struct {
	Token string `json:"token"`
}

// TokenVerifyResponse says whether a token is valid here and now, and
// why not.
type TokenVerifyResponse struct {
	Valid  bool          `json:"valid"`
	Error  string        `json:"error,omitempty"`
	Code   string        `json:"code,omitempty"`
	Claims *token.Claims `json:"claims,omitempty"` // only when valid
}

// DenyListRequest asks for a signed deny list revoking these tokens.
type DenyListRequest struct {
	IDs      []string `json:"ids,omitempty"`      // token ids
	Subjects []string `json:"subjects,omitempty"` // every token of these subjects
}

// DenyListResponse carries the signed deny list, to be installed as the
// tokens.deny_list file of every replica.
type DenyListResponse struct {
	DenyList string `json:"deny_list"`
}

// Error is the body of every error response.
type Error struct {
	Message   string `json:"error"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"`
	// Items lists the items of a sign request at fault, when the request
	// failed because of them alone: a client may drop them and send the
	// others again.
	Items []ItemError `json:"items,omitempty"`
}

// ItemError is why one item of a sign request was refused.
type ItemError struct {
	Item  int    `json:"item"` // its position in the request, from 1
	Error string `json:"error"`
}

// Digest formats a digest as "ALG:HEX".
func Digest(h crypto.Hash, sum []byte) string {
	return HashName(h) + ":" + hex.EncodeToString(sum)
}

// ParseDigest parses "ALG:HEX" and checks the length for ALG.
func ParseDigest(s string) (crypto.Hash, []byte, error) {
	alg, hx, ok := strings.Cut(s, ":")
	if !ok {
		return 0, nil, fmt.Errorf("digest %.80q is not of the form ALG:HEX (for example sha256:…)", s)
	}
	var h crypto.Hash
	switch alg {
	case "sha256":
		h = crypto.SHA256
	case "sha384":
		h = crypto.SHA384
	case "sha512":
		h = crypto.SHA512
	case "blake2b512":
		h = crypto.BLAKE2b_512
	default:
		return 0, nil, fmt.Errorf("digest algorithm %.20q is not supported; use sha256, sha384, sha512 or blake2b512", alg)
	}
	sum, err := hex.DecodeString(hx)
	if err != nil {
		return 0, nil, fmt.Errorf("digest %.80q: value is not hex", s)
	}
	if len(sum) != h.Size() {
		return 0, nil, fmt.Errorf("%s digest is %d bytes, want %d", alg, len(sum), h.Size())
	}
	return h, sum, nil
}

// HashName returns the lowercase name used in digests: "sha256", "sha384",
// "sha512", "blake2b512".
func HashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	case crypto.BLAKE2b_512:
		return "blake2b512"
	}
	return strings.ToLower(h.String())
}

// AuditKey is the answer to GET /v1/audit/key: the log's name and its
// verifier key, to pin in auditors' configuration.
type AuditKey struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"` // signed-note form "origin+hash+key"
}

// AuditProof is a consistency proof between two sizes of the log.
type AuditProof struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof [][]byte `json:"proof"`
}

// AuditEntries is a range of stored entries.
type AuditEntries struct {
	Size    int64         `json:"size"` // the log's size when read
	Entries []audit.Match `json:"entries"`
}

// AuditCheckpoint is one stored checkpoint.
type AuditCheckpoint struct {
	Size       int64     `json:"size"`
	Checkpoint string    `json:"checkpoint"`
	Time       time.Time `json:"time"`
}

// AuditCheckpoints is a page of stored checkpoints.
type AuditCheckpoints struct {
	Checkpoints []AuditCheckpoint `json:"checkpoints"`
}

// AuditSearch is one page of search results, answered against Checkpoint:
// every matching entry below its size is in this page or the next ones.
type AuditSearch struct {
	Checkpoint string `json:"checkpoint,omitempty"` // absent when the request gave size=
	// Size is the number of entries searched (and proofs are in the tree
	// of): the checkpoint's, or the size= the request gave.
	Size int64 `json:"size,omitempty"`
	// Recorded is the number of entries durable in the log when the page
	// was answered: those of the checkpoint and any recorded since.
	Recorded int64         `json:"recorded"`
	Matches  []audit.Match `json:"matches"`
	Next     int64         `json:"next,omitempty"` // pass as after= for the next page; 0 when complete

	// Unproven, on the last page of a search without size=, are the
	// matches among the entries recorded beyond Size (up to Recorded):
	// durable, but covered by no signed checkpoint yet, so without an
	// inclusion proof. Never proof of anything; a later search finds
	// them among Matches once a checkpoint covers them. At most limit;
	// UnprovenMore says more may match.
	Unproven     []audit.Match `json:"unproven,omitempty"`
	UnprovenMore bool          `json:"unproven_more,omitempty"`
	// UnprovenReason (one of the Unproven… codes) and UnprovenNote (for
	// people) say why no checkpoint covers them, whenever the log holds
	// entries beyond Size and the page searched them.
	UnprovenReason string `json:"unproven_reason,omitempty"`
	UnprovenNote   string `json:"unproven_note,omitempty"`
}

// Why entries recorded beyond the latest checkpoint have no proof yet.
const (
	// UnprovenLocked: the keystore is locked, so the log key cannot sign
	// checkpoints; unlocking makes the next checkpoint cover them.
	UnprovenLocked = "locked"
	// UnprovenPending: the log key is available again; the checkpoint of
	// the next entry recorded covers them.
	UnprovenPending = "pending"
	// UnprovenNoLogKey: the log key is missing or unusable.
	UnprovenNoLogKey = "log_key_unavailable"
)
