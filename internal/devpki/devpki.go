// Package devpki is a minimal certificate authority for development servers
// and tests: it issues a TLS server certificate for the listen address and
// client certificates for principals, all ECDSA P-256, and code-signing
// certificates for the keys of certificate requests.
//
// It exists so that `signet serve --dev` and the test suite use real mutual
// TLS with no external tooling. Production deployments bring their own PKI;
// nothing in the server depends on this package.
package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// CA is a certificate authority whose key lives in memory.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA creates a self-signed CA valid for ten years.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	cert, err := create(tmpl, tmpl, key, key, 10*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// ParseCA loads a CA from PEM certificate and PKCS #8 key.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading CA: %w", err)
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("loading CA: key of type %T cannot sign", cert.PrivateKey)
	}
	return &CA{Cert: cert.Leaf, Key: signer}, nil
}

// IssueServer issues a server certificate valid for hosts (IP addresses or
// DNS names).
func (ca *CA) IssueServer(hosts ...string) (tls.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tmpl)
}

// IssueClient issues a client certificate with subject common name cn.
func (ca *CA) IssueClient(cn string) (tls.Certificate, error) {
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *CA) issue(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := create(tmpl, ca.Cert, key, ca.Key, 2*365*24*time.Hour)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

func create(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer, life time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(life)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// CertPEM returns the PEM encoding of the first certificate in c.
func CertPEM(c tls.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
}

// KeyPEM returns the PKCS #8 PEM encoding of c's private key.
func KeyPEM(c tls.Certificate) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// TLSCertificate returns the CA itself as a tls.Certificate.
func (ca *CA) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{ca.Cert.Raw}, PrivateKey: ca.Key, Leaf: ca.Cert}
}

// IssueCodeSigning issues a code-signing certificate (extended key usage
// codeSigning, as Authenticode needs) for the subject and public key of
// a PKCS #10 certificate request, after checking the request's signature.
// It is valid from an hour ago for two years.
func (ca *CA) IssueCodeSigning(csrDER []byte) (*x509.Certificate, error) {
	now := time.Now()
	return ca.IssueFromCSR(csrDER, x509.ExtKeyUsageCodeSigning, now.Add(-time.Hour), now.Add(2*365*24*time.Hour))
}

// IssueTimeStamping issues a time-stamping certificate, as RFC 3161
// requires it: extended key usage timeStamping alone, critical. It is
// valid from an hour ago for ten years, like a TSA's.
func (ca *CA) IssueTimeStamping(csrDER []byte) (*x509.Certificate, error) {
	now := time.Now()
	return ca.IssueFromCSR(csrDER, x509.ExtKeyUsageTimeStamping, now.Add(-time.Hour), now.Add(10*365*24*time.Hour))
}

// IssueFromCSR issues a certificate for the subject and public key of a
// PKCS #10 request, after checking its signature, with extended key usage
// eku (critical when it is timeStamping), valid from notBefore to
// notAfter: tests make certificates that have expired with it.
func (ca *CA) IssueFromCSR(csrDER []byte, eku x509.ExtKeyUsage, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      csr.Subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
	}
	if eku == x509.ExtKeyUsageTimeStamping {
		// crypto/x509 never marks extendedKeyUsage critical; RFC 3161
		// wants it so, and openssl ts -verify checks.
		v, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: v}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate for %q: %w", csr.Subject, err)
	}
	return x509.ParseCertificate(der)
}
