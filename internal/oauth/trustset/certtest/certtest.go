// Package certtest makes certificate authorities, client certificates and
// CRLs for tests of certificate-based client authentication (RFC 8705):
// good, expired, not yet valid, revoked, of another CA, self-signed.
// Keys are ECDSA P-256, made fresh for each test.
package certtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

var serial atomic.Int64

func nextSerial() *big.Int { return big.NewInt(1000 + serial.Add(1)) }

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// PEM is the certificate as PEM.
func (c Cert) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}))
}

// KeyPEM is the private key as PEM (PKCS #8).
func (c Cert) KeyPEM(t testing.TB) string {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TLS is the certificate for a tls.Config.
func (c Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// CA is a certificate authority.
type CA struct{ Cert }

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewCA makes a self-signed root CA named cn, valid from an hour ago for
// a year.
func NewCA(t testing.TB, cn string) *CA {
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"Castellan Tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert{Cert: c, Key: key}}
}

// Options describe a client certificate.
type Options struct {
	Subject   pkix.Name
	DNSNames  []string
	URIs      []string
	IPs       []string
	Emails    []string
	NotBefore time.Time // zero: an hour ago
	NotAfter  time.Time // zero: in a day
	// Server makes a TLS server certificate instead of a client one.
	Server bool
}

func template(t testing.TB, o Options) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: o.Subject, DNSNames: o.DNSNames, EmailAddresses: o.Emails,
		NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if o.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	for _, s := range o.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(s))
	}
	return tmpl
}

func create(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Issue makes a client certificate signed by the CA.
func (ca *CA) Issue(t testing.TB, o Options) Cert {
	key := newKey(t)
	return Cert{Cert: create(t, template(t, o), ca.Cert.Cert, key.Public(), ca.Key), Key: key}
}

// SelfSigned makes a self-signed client certificate.
func SelfSigned(t testing.TB, o Options) Cert {
	key := newKey(t)
	tmpl := template(t, o)
	return Cert{Cert: create(t, tmpl, tmpl, key.Public(), key), Key: key}
}

// CRL returns a CRL of the CA, as PEM, revoking revoked, valid until
// nextUpdate.
func (ca *CA) CRL(t testing.TB, nextUpdate time.Time, revoked ...Cert) string {
	var entries []x509.RevocationListEntry
	for _, r := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: nextSerial(), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: nextUpdate, RevokedCertificateEntries: entries,
	}, ca.Cert.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}
