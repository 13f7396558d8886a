// Command signet-pkcs11 is a PKCS #11 module: a shared library that
// PKCS #11 applications (pkcs11-tool, OpenSSL's pkcs11 engine or
// provider, osslsigncode, rpmsign, …) load to sign with keys that stay in
// Signet. It is built with
//
//	go build -buildmode=c-shared -o libsignet-pkcs11.so ./cmd/signet-pkcs11
//
// and needs cgo; the rest of Signet stays pure Go. docs/pkcs11.md tells
// how each tool is set up.
//
// # What it exposes
//
// One slot, whose token is a Signet deployment: the server named by
// SIGNET_SERVER and the credentials of SIGNET_CLIENT_CERT and
// SIGNET_CLIENT_KEY or SIGNET_TOKEN, read from the file that
// SIGNET_PKCS11_CONFIG names (the client.env of 'signet serve --dev' will
// do) or else from the environment. The token holds, for each key of
// usage raw that the principal may use (the server's key list, filtered
// by its grants), a private key object that only signs (CKA_SENSITIVE
// true, CKA_EXTRACTABLE false: it has no key material, which never leaves
// the server), a public key object, and the certificate attached with
// 'signet key cert', if any; the three share a CKA_ID.
//
// # Signing
//
// C_SignInit … C_Sign (or C_SignUpdate … C_SignFinal) sends one raw sign
// request: a digest, computed here for the hashing mechanisms, so that
// only the digest crosses the network, or for EdDSA the message. The
// server checks the grants and records the signature in its audit log
// before answering, as for any signature; the module checks the
// signature against the public key before returning it. Mechanisms
// follow the server's raw format, which fixes the digest by key type:
// CKM_ECDSA and CKM_ECDSA_SHA256 (P-256), CKM_ECDSA and CKM_ECDSA_SHA384
// (P-384), CKM_RSA_PKCS (a SHA-256 DigestInfo), CKM_SHA256_RSA_PKCS,
// CKM_RSA_PKCS_PSS and CKM_SHA256_RSA_PKCS_PSS (MGF1-SHA-256, 32-byte
// salt), and CKM_EDDSA (Ed25519). Signatures are requested under the
// artifact name SIGNET_PKCS11_ARTIFACT (default "pkcs11:PROGRAM"), which
// grants match and the log records.
//
// # Logging in
//
// The PIN is not a key secret. With a plain client key or a token the
// token needs no login, and any PIN is accepted. With a client key
// encrypted in PEM (openssl's -aes256), the PIN is its passphrase; with
// neither a client certificate nor a token configured, the PIN is a
// Signet token. Then private keys appear only after C_Login.
//
// The entry points are C_GetFunctionList and, for PKCS #11 3.0 callers,
// C_GetInterface (one interface, "PKCS 11", version 2.40). Besides the
// functions above, C_GetSessionInfo, C_CloseAllSessions and
// C_GenerateRandom (the host's generator) work; everything else answers
// CKR_FUNCTION_NOT_SUPPORTED. The
// module is safe for concurrent use, and a panic never crosses the C
// boundary: it is logged and answered CKR_GENERAL_ERROR.
package main

func main() {}
