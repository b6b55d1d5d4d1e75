package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-ldap/ldap/v3"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
)

// Certificate authentication (RFC 8705 section 2). A tls_client_auth
// client registers a trust set (or takes the instance's default, package
// trustset) and exactly one value its certificate must carry; a
// self_signed_tls_client_auth client registers its certificates, as PEM
// or as a JWK Set whose keys carry x5c.

// TLSClientAuth is what a tls_client_auth client registers (RFC 8705
// section 2.1.2): the trust set its certificates must chain to ("" for
// the instance's default), and exactly one of its subject DN
// (tls_client_auth_subject_dn, compared as parsed RDNs per RFC 4514 and
// RFC 4517 distinguishedNameMatch: attribute types by OID, values
// case-insensitively with insignificant spaces folded) or a SAN of type
// dNSName, uniformResourceIdentifier, iPAddress or rfc822Name, compared
// exactly (DNS names and email domains case-insensitively, IPs as
// addresses).
type TLSClientAuth struct {
	TrustSetID string `json:"trustSetId,omitempty"`
	SubjectDN  string `json:"subjectDn,omitempty"`
	SANDNS     string `json:"sanDns,omitempty"`
	SANURI     string `json:"sanUri,omitempty"`
	SANIP      string `json:"sanIp,omitempty"`
	SANEmail   string `json:"sanEmail,omitempty"`
}

// maxSubject bounds a registered subject value.
const maxSubject = 1000

func (t TLSClientAuth) check() error {
	n := 0
	for _, v := range []string{t.SubjectDN, t.SANDNS, t.SANURI, t.SANIP, t.SANEmail} {
		if v != "" {
			n++
		}
		if len(v) > maxSubject {
			return failure.InvalidArgument("tlsClientAuth", "a subject value is at most %d bytes", maxSubject)
		}
	}
	if n != 1 {
		return failure.InvalidArgument("tlsClientAuth", "exactly one of subjectDn, sanDns, sanUri, sanIp and sanEmail must be set (RFC 8705 section 2.1.2)")
	}
	switch {
	case t.SubjectDN != "":
		if _, err := parseDN(t.SubjectDN); err != nil {
			return failure.InvalidArgument("tlsClientAuth.subjectDn", "%.200q is not an RFC 4514 distinguished name: %v", t.SubjectDN, err)
		}
	case t.SANURI != "":
		if u, err := url.Parse(t.SANURI); err != nil || !u.IsAbs() {
			return failure.InvalidArgument("tlsClientAuth.sanUri", "%.200q is not an absolute URI", t.SANURI)
		}
	case t.SANIP != "":
		if net.ParseIP(t.SANIP) == nil {
			return failure.InvalidArgument("tlsClientAuth.sanIp", "%.200q is not an IP address", t.SANIP)
		}
	case t.SANEmail != "":
		if !strings.Contains(t.SANEmail, "@") {
			return failure.InvalidArgument("tlsClientAuth.sanEmail", "%.200q is not an email address", t.SANEmail)
		}
	}
	return nil
}

// attributeOIDs are the attribute type names of RFC 4514 section 3 and
// the usual others, by OID: a DN compares types by OID.
var attributeOIDs = map[string]string{
	"CN": "2.5.4.3", "L": "2.5.4.7", "ST": "2.5.4.8", "O": "2.5.4.10", "OU": "2.5.4.11", "C": "2.5.4.6",
	"STREET": "2.5.4.9", "DC": "0.9.2342.19200300.100.1.25", "UID": "0.9.2342.19200300.100.1.1",
	"SERIALNUMBER": "2.5.4.5", "EMAILADDRESS": "1.2.840.113549.1.9.1", "E": "1.2.840.113549.1.9.1",
	"TITLE": "2.5.4.12", "GIVENNAME": "2.5.4.42", "SN": "2.5.4.4", "POSTALCODE": "2.5.4.17",
	"ORGANIZATIONIDENTIFIER": "2.5.4.97",
}

// rdn is one attribute of a relative distinguished name, normalized.
type rdn struct{ oid, value string }

// dn is a distinguished name as compared: RDNs in RFC 4514 order (most
// specific first), each a sorted set of attributes.
type dn [][]rdn

// normalizeValue folds case and insignificant spaces (RFC 4518 section
// 2.6.1, simplified to what certificates carry).
func normalizeValue(v string) string {
	return strings.ToLower(strings.Join(strings.Fields(v), " "))
}

func normalizeType(t string) (string, error) {
	t = strings.TrimSpace(t)
	if oid, ok := attributeOIDs[strings.ToUpper(t)]; ok {
		return oid, nil
	}
	t = strings.TrimPrefix(strings.TrimPrefix(t, "OID."), "oid.")
	for _, part := range strings.Split(t, ".") {
		if part == "" || strings.Trim(part, "0123456789") != "" {
			return "", fmt.Errorf("unknown attribute type %.40q", t)
		}
	}
	return t, nil
}

// parseDN parses an RFC 4514 string.
func parseDN(s string) (dn, error) {
	d, err := ldap.ParseDN(s)
	if err != nil {
		return nil, err
	}
	if len(d.RDNs) == 0 {
		return nil, fmt.Errorf("empty")
	}
	out := make(dn, 0, len(d.RDNs))
	for _, r := range d.RDNs {
		var set []rdn
		for _, a := range r.Attributes {
			oid, err := normalizeType(a.Type)
			if err != nil {
				return nil, err
			}
			set = append(set, rdn{oid: oid, value: normalizeValue(a.Value)})
		}
		out = append(out, sortRDN(set))
	}
	return out, nil
}

func sortRDN(set []rdn) []rdn {
	for i := 1; i < len(set); i++ {
		for j := i; j > 0 && (set[j].oid < set[j-1].oid || set[j].oid == set[j-1].oid && set[j].value < set[j-1].value); j-- {
			set[j], set[j-1] = set[j-1], set[j]
		}
	}
	return set
}

// subjectDN is a certificate's subject as compared.
func subjectDN(c *x509.Certificate) (dn, error) {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(c.RawSubject, &seq); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("subject does not parse")
	}
	out := make(dn, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		var set []rdn
		for _, a := range seq[i] {
			v, ok := a.Value.(string)
			if !ok {
				v = fmt.Sprint(a.Value)
			}
			set = append(set, rdn{oid: a.Type.String(), value: normalizeValue(v)})
		}
		out = append(out, sortRDN(set))
	}
	return out, nil
}

func (d dn) equal(o dn) bool {
	if len(d) != len(o) {
		return false
	}
	for i := range d {
		if len(d[i]) != len(o[i]) {
			return false
		}
		for j := range d[i] {
			if d[i][j] != o[i][j] {
				return false
			}
		}
	}
	return true
}

// match reports whether cert carries the registered value; reason says
// why not.
func (t TLSClientAuth) match(cert *x509.Certificate) (reason string, ok bool) {
	switch {
	case t.SubjectDN != "":
		want, err := parseDN(t.SubjectDN)
		if err != nil {
			return "the registered subject DN does not parse", false
		}
		got, err := subjectDN(cert)
		if err == nil && want.equal(got) {
			return "", true
		}
		return fmt.Sprintf("subject %q is not the registered %q", cert.Subject.String(), t.SubjectDN), false
	case t.SANDNS != "":
		for _, n := range cert.DNSNames {
			if strings.EqualFold(n, t.SANDNS) {
				return "", true
			}
		}
		return fmt.Sprintf("no SAN DNS name %q (has %q)", t.SANDNS, cert.DNSNames), false
	case t.SANURI != "":
		for _, u := range cert.URIs {
			if u.String() == t.SANURI {
				return "", true
			}
		}
		return fmt.Sprintf("no SAN URI %q", t.SANURI), false
	case t.SANIP != "":
		want := net.ParseIP(t.SANIP)
		for _, ip := range cert.IPAddresses {
			if ip.Equal(want) {
				return "", true
			}
		}
		return fmt.Sprintf("no SAN IP %s (has %v)", t.SANIP, cert.IPAddresses), false
	case t.SANEmail != "":
		for _, e := range cert.EmailAddresses {
			if emailEqual(e, t.SANEmail) {
				return "", true
			}
		}
		return fmt.Sprintf("no SAN email %q", t.SANEmail), false
	}
	return "nothing registered to match", false
}

// emailEqual compares addresses: the local part exactly, the domain
// case-insensitively.
func emailEqual(a, b string) bool {
	la, da, ok1 := strings.Cut(a, "@")
	lb, db, ok2 := strings.Cut(b, "@")
	return ok1 && ok2 && la == lb && strings.EqualFold(da, db)
}

// Limits of registered self-signed certificates.
const (
	maxCertificates   = 10
	maxCertificatePEM = 64 << 10
)

// parseCertificates reads the PEM certificates of a self-signed client.
func parseCertificates(field, s string) ([]*x509.Certificate, error) {
	if len(s) > maxCertificatePEM {
		return nil, failure.InvalidArgument(field, "at most %d bytes", maxCertificatePEM)
	}
	return trustset.ParseCertificates(field, s, maxCertificates)
}

// certificatesOfJWKS returns the first certificate of each key's x5c
// (RFC 7517 section 4.7; go-jose checks that it holds the key).
func certificatesOfJWKS(set jose.JSONWebKeySet) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i, k := range set.Keys {
		if len(k.Certificates) == 0 {
			return nil, failure.InvalidArgument("jwks", "key %d has no x5c: a self-signed client registers certificates", i+1)
		}
		out = append(out, k.Certificates[0])
	}
	return out, nil
}

// selfSignedCertificates are the certificates a self-signed client
// registered, from its PEM or its JWKS.
func (a Application) selfSignedCertificates() ([]*x509.Certificate, error) {
	if a.Certificates != "" {
		return parseCertificates("certificates", a.Certificates)
	}
	return certificatesOfJWKS(a.JWKS)
}

// checkCertificateAuth validates what a spec registers for the RFC 8705
// methods.
func checkCertificateAuth(spec ApplicationSpec) error {
	tls := spec.AuthMethod == oauth.AuthTLSClientAuth
	self := spec.AuthMethod == oauth.AuthSelfSignedTLSClientAuth
	switch {
	case tls && spec.TLSClientAuth == nil:
		return failure.InvalidArgument("tlsClientAuth", "a tls_client_auth client registers the subject its certificate carries")
	case !tls && spec.TLSClientAuth != nil:
		return failure.InvalidArgument("tlsClientAuth", "is for tls_client_auth clients")
	case tls:
		return spec.TLSClientAuth.check()
	case !self && spec.Certificates != "":
		return failure.InvalidArgument("certificates", "are for self_signed_tls_client_auth clients")
	case self && spec.Certificates != "" && len(spec.JWKS) > 0:
		return failure.InvalidArgument("certificates", "register certificates or jwks, not both")
	case self && spec.Certificates != "":
		_, err := parseCertificates("certificates", spec.Certificates)
		return err
	case self && len(spec.JWKS) > 0:
		set, err := checkJWKS(spec.JWKS)
		if err != nil {
			return err
		}
		_, err = certificatesOfJWKS(set)
		return err
	case self:
		return failure.InvalidArgument("certificates", "a self_signed_tls_client_auth client registers its certificates (PEM) or a JWK Set with x5c")
	}
	return nil
}

// Thumbprint is the x5t#S256 of a certificate (RFC 8705 section 3.1):
// base64url of the SHA-256 of its DER.
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CertificateVerifier verifies a chain against a trust set
// (trustset.Verifier): a refusal is a *trustset.Refused, any other error
// the server's.
type CertificateVerifier interface {
	Verify(ctx context.Context, instanceID, setID string, chain []*x509.Certificate) error
}

// checkCertificate authenticates a client of an RFC 8705 method by the
// chain it presented.
func (c *Clients) checkCertificate(ctx context.Context, instanceID string, app Application, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return certificateRefused("no client certificate was presented")
	}
	leaf := chain[0]
	switch app.AuthMethod {
	case oauth.AuthTLSClientAuth:
		if app.TLSClientAuth == nil {
			return certificateRefused("the client registered no subject")
		}
		if c.trustSets == nil {
			return certificateRefused("no trust sets are configured")
		}
		if err := c.trustSets.Verify(ctx, instanceID, app.TLSClientAuth.TrustSetID, chain); err != nil {
			r := new(trustset.Refused)
			if !errors.As(err, &r) {
				return err
			}
			return certificateRefused("%s", r.Reason)
		}
		if reason, ok := app.TLSClientAuth.match(leaf); !ok {
			return certificateRefused("certificate %s (serial %s): %s", leaf.Subject, leaf.SerialNumber, reason)
		}
		return nil
	case oauth.AuthSelfSignedTLSClientAuth:
		certs, err := app.selfSignedCertificates()
		if err != nil {
			return certificateRefused("the registered certificates do not parse: %v", err)
		}
		now := c.now()
		for _, r := range certs {
			if !bytes.Equal(r.Raw, leaf.Raw) {
				continue
			}
			if now.Before(leaf.NotBefore) {
				return certificateRefused("certificate %s is not valid before %s", leaf.Subject, leaf.NotBefore.UTC().Format(time.RFC3339))
			}
			if now.After(leaf.NotAfter) {
				return certificateRefused("certificate %s expired at %s", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339))
			}
			return nil
		}
		return certificateRefused("certificate %s (x5t#S256 %s) is not one the client registered", leaf.Subject, Thumbprint(leaf))
	}
	return certificateRefused("the client does not authenticate with a certificate")
}

// refusal is the cause of a certificate authentication failure: the
// precise reason, logged and audited.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func certificateRefused(format string, args ...any) error {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

// Validate checks a registration: exactly one subject value, well formed.
// Errors are failure.InvalidArgument on tlsClientAuth.
func (t TLSClientAuth) Validate() error { return t.check() }

// Match reports whether cert carries the registered subject value; when
// it does not, reason says what it carries instead (for the log).
func (t TLSClientAuth) Match(cert *x509.Certificate) (reason string, ok bool) { return t.match(cert) }

// certificateJSON is how the applications table keeps an application's
// certificate registration.
type certificateJSON struct {
	TLSClientAuth *TLSClientAuth `json:"tlsClientAuth,omitempty"`
	Certificates  string         `json:"certificates,omitempty"`
}

func marshalCertificateAuth(t *TLSClientAuth, certs string) string {
	if t == nil && certs == "" {
		return ""
	}
	b, _ := json.Marshal(certificateJSON{TLSClientAuth: t, Certificates: certs})
	return string(b)
}
