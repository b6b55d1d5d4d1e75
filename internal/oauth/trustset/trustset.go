package trustset

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Limits of a trust set.
const (
	maxName         = 200
	maxCertificates = 50
	maxCRLs         = 20
	maxPEMBytes     = 1 << 20
)

// TrustSet is a named set of CA certificates and their CRLs.
type TrustSet struct {
	ID           string
	InstanceID   string
	Name         string
	Certificates string
	CRLs         string
	// Default: the set of tls_client_auth clients that name none.
	Default   bool
	CreatedAt time.Time
}

// Spec is what a trust set is made of.
type Spec struct {
	Name         string
	Certificates string
	CRLs         string
	Default      bool
}

// parsed is a trust set ready to verify with.
type parsed struct {
	set   TrustSet
	roots *x509.CertPool
	cas   []*x509.Certificate
	crls  []*x509.RevocationList
}

func checkSpec(s Spec) (Spec, *parsed, error) {
	s.Name = strings.TrimSpace(s.Name)
	if s.Name == "" || utf8.RuneCountInString(s.Name) > maxName || !utf8.ValidString(s.Name) {
		return s, nil, failure.InvalidArgument("name", "must be 1 to %d characters", maxName)
	}
	if len(s.Certificates)+len(s.CRLs) > maxPEMBytes {
		return s, nil, failure.InvalidArgument("certificates", "certificates and CRLs are at most %d bytes of PEM together", maxPEMBytes)
	}
	p, err := parse(TrustSet{Name: s.Name, Certificates: s.Certificates, CRLs: s.CRLs, Default: s.Default})
	if err != nil {
		return s, nil, err
	}
	return s, p, nil
}

// ParseCertificates reads 1 to max PEM CERTIFICATE blocks and nothing
// else from pem; errors name field and the block.
func ParseCertificates(field, pemText string, max int) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(pemText)
	for i := 1; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, failure.InvalidArgument(field, "PEM block %d is %.40q, not CERTIFICATE", i, b.Type)
		}
		if len(out) == max {
			return nil, failure.InvalidArgument(field, "at most %d certificates", max)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, failure.InvalidArgument(field, "certificate %d: %v", i, err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, failure.InvalidArgument(field, "holds something after its last PEM block")
	}
	if len(out) == 0 {
		return nil, failure.InvalidArgument(field, "must hold at least one PEM CERTIFICATE block")
	}
	return out, nil
}

// parse reads the certificates and CRLs of a set; errors name the field
// and the block.
func parse(t TrustSet) (*parsed, error) {
	p := &parsed{set: t, roots: x509.NewCertPool()}
	cas, err := ParseCertificates("certificates", t.Certificates, maxCertificates)
	if err != nil {
		return nil, err
	}
	for i, c := range cas {
		selfSignedV1 := c.Version == 1 && bytes.Equal(c.RawIssuer, c.RawSubject)
		if !(c.BasicConstraintsValid && c.IsCA) && !selfSignedV1 {
			return nil, failure.InvalidArgument("certificates", "certificate %d (%.200s) is not a CA certificate", i+1, c.Subject)
		}
		p.cas = append(p.cas, c)
		p.roots.AddCert(c)
	}
	rest := []byte(t.CRLs)
	for i := 1; ; i++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			return nil, failure.InvalidArgument("crls", "PEM block %d is %.40q, not X509 CRL", i, b.Type)
		}
		crl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, failure.InvalidArgument("crls", "CRL %d: %v", i, err)
		}
		if issuerOf(crl, p.cas) == nil {
			return nil, failure.InvalidArgument("crls", "CRL %d (issuer %.200s) is not signed by a certificate of the set", i, crl.Issuer)
		}
		if len(p.crls) == maxCRLs {
			return nil, failure.InvalidArgument("crls", "at most %d CRLs", maxCRLs)
		}
		p.crls = append(p.crls, crl)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, failure.InvalidArgument("crls", "holds something after its last PEM block")
	}
	return p, nil
}

// issuerOf returns the certificate of cas that signed crl, or nil.
func issuerOf(crl *x509.RevocationList, cas []*x509.Certificate) *x509.Certificate {
	for _, ca := range cas {
		if bytes.Equal(ca.RawSubject, crl.RawIssuer) && crl.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}
