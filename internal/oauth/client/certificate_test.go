package client

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

func TestSubjectDNMatch(t *testing.T) {
	ca := certtest.NewCA(t, "Root")
	cert := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "Payments  Service", Organization: []string{"Example Bank"},
		OrganizationalUnit: []string{"Treasury"}, Country: []string{"DE"}}}).Cert
	multi := ca.Issue(t, certtest.Options{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example Bank"},
	}}}).Cert
	for _, tc := range []struct {
		name string
		dn   string
		cert *x509.Certificate
		ok   bool
	}{
		{"ok/the string Go prints", cert.Subject.String(), cert, true},
		{"ok/case and spaces are not significant", "cn=payments service, ou=TREASURY,o=example bank,c=de", cert, true},
		{"ok/attribute types by OID", "2.5.4.3=Payments Service,OU=Treasury,O=Example Bank,C=DE", cert, true},
		{"ok/escaped value", `CN=Payments Service,OU=Treasury,O=Example\20Bank,C=DE`, cert, true},
		{"fail/another CN", "CN=Payments,OU=Treasury,O=Example Bank,C=DE", cert, false},
		{"fail/RDNs in another order", "C=DE,O=Example Bank,OU=Treasury,CN=Payments Service", cert, false},
		{"fail/one RDN missing", "CN=Payments Service,O=Example Bank,C=DE", cert, false},
		{"fail/one RDN more", "CN=Payments Service,OU=Treasury,O=Example Bank,C=DE,DC=com", cert, false},
		{"ok/single attribute", "O=Example Bank", multi, true},
		{"fail/a prefix is not the subject", "O=Example", multi, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := TLSClientAuth{SubjectDN: tc.dn}
			if err := a.check(); err != nil {
				t.Fatal(err)
			}
			reason, ok := a.match(tc.cert)
			if ok != tc.ok {
				t.Fatalf("match = %v (%s), want %v", ok, reason, tc.ok)
			}
		})
	}
}

func TestSANMatch(t *testing.T) {
	cert := certtest.SelfSigned(t, certtest.Options{DNSNames: []string{"svc.example.com"}, URIs: []string{"spiffe://example.com/payments"},
		IPs: []string{"10.1.2.3"}, Emails: []string{"ops@Example.com"}}).Cert
	for _, tc := range []struct {
		name string
		a    TLSClientAuth
		ok   bool
	}{
		{"ok/DNS name, any case", TLSClientAuth{SANDNS: "SVC.example.com"}, true},
		{"fail/another DNS name", TLSClientAuth{SANDNS: "example.com"}, false},
		{"ok/URI", TLSClientAuth{SANURI: "spiffe://example.com/payments"}, true},
		{"fail/URI prefix", TLSClientAuth{SANURI: "spiffe://example.com/pay"}, false},
		{"ok/IP", TLSClientAuth{SANIP: "10.1.2.3"}, true},
		{"ok/IPv4 in IPv6 form", TLSClientAuth{SANIP: "::ffff:10.1.2.3"}, true},
		{"fail/another IP", TLSClientAuth{SANIP: "10.1.2.4"}, false},
		{"ok/email, domain in any case", TLSClientAuth{SANEmail: "ops@example.com"}, true},
		{"fail/email, local part in another case", TLSClientAuth{SANEmail: "OPS@example.com"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.a.check(); err != nil {
				t.Fatal(err)
			}
			if _, ok := tc.a.match(cert); ok != tc.ok {
				t.Fatalf("match = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func TestCertificateRegistrationIsChecked(t *testing.T) {
	f := newFixture(t)
	self := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "self"}})
	noX5C, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: self.Key.Public(), KeyID: "k1", Algorithm: "ES256"}}})
	for _, tc := range []struct {
		name  string
		spec  ApplicationSpec
		field string
	}{
		{"fail/tls_client_auth without subject", ApplicationSpec{AuthMethod: oauth.AuthTLSClientAuth}, "tlsClientAuth"},
		{"fail/two subject values", ApplicationSpec{AuthMethod: oauth.AuthTLSClientAuth, TLSClientAuth: &TLSClientAuth{SANDNS: "a.example", SANIP: "10.0.0.1"}}, "tlsClientAuth"},
		{"fail/a DN that does not parse", ApplicationSpec{AuthMethod: oauth.AuthTLSClientAuth, TLSClientAuth: &TLSClientAuth{SubjectDN: "CN"}}, "tlsClientAuth.subjectDn"},
		{"fail/an IP that is none", ApplicationSpec{AuthMethod: oauth.AuthTLSClientAuth, TLSClientAuth: &TLSClientAuth{SANIP: "10.0.0"}}, "tlsClientAuth.sanIp"},
		{"fail/a subject for a secret client", ApplicationSpec{TLSClientAuth: &TLSClientAuth{SANDNS: "a.example"}}, "tlsClientAuth"},
		{"fail/self-signed without certificates", ApplicationSpec{AuthMethod: oauth.AuthSelfSignedTLSClientAuth}, "certificates"},
		{"fail/self-signed with a JWKS without x5c", ApplicationSpec{AuthMethod: oauth.AuthSelfSignedTLSClientAuth, JWKS: noX5C}, "jwks"},
		{"fail/self-signed with a key as certificate", ApplicationSpec{AuthMethod: oauth.AuthSelfSignedTLSClientAuth, Certificates: self.KeyPEM(t)}, "certificates"},
		{"fail/a public client", ApplicationSpec{Public: true, AuthMethod: oauth.AuthSelfSignedTLSClientAuth, Certificates: self.PEM()}, "authMethod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.GrantTypes = "m2m", []string{oauth.GrantClientCredentials}
			if tc.spec.Public {
				tc.spec.GrantTypes = nil
			}
			_, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, tc.spec)
			var fe *failure.Error
			if !asFailure(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field {
				t.Fatalf("err = %v, want invalid %s", err, tc.field)
			}
		})
	}
}

// fakeTrustSets accepts the chains whose leaf was issued by trusted.
type fakeTrustSets struct{ trusted *x509.Certificate }

func (f fakeTrustSets) Verify(_ context.Context, _, _ string, chain []*x509.Certificate) error {
	if chain[0].CheckSignatureFrom(f.trusted) != nil {
		return &trustset.Refused{Reason: "unknown authority"}
	}
	return nil
}

func TestCertificateAuthentication(t *testing.T) {
	f := newFixture(t)
	f.clock.t = time.Now()
	ca := certtest.NewCA(t, "Root")
	var refusals []string
	f.clients.WithCertificates(fakeTrustSets{trusted: ca.Cert.Cert}, func(_ context.Context, _ string, _ Application, _ *x509.Certificate, reason string) {
		refusals = append(refusals, reason)
	})
	pki, secret, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, ApplicationSpec{Name: "pki",
		GrantTypes: []string{oauth.GrantClientCredentials}, AuthMethod: oauth.AuthTLSClientAuth, TLSClientAuth: &TLSClientAuth{SANDNS: "pay.example.com"}})
	if err != nil || secret != "" {
		t.Fatalf("create: %v, secret %q", err, secret)
	}
	self := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "self"}})
	next := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "next"}})
	selfApp, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, ApplicationSpec{Name: "self",
		GrantTypes: []string{oauth.GrantClientCredentials}, AuthMethod: oauth.AuthSelfSignedTLSClientAuth, Certificates: self.PEM()})
	if err != nil {
		t.Fatal(err)
	}
	good := ca.Issue(t, certtest.Options{DNSNames: []string{"pay.example.com"}})
	wrongSubject := ca.Issue(t, certtest.Options{DNSNames: []string{"other.example.com"}})
	foreign := certtest.NewCA(t, "Other").Issue(t, certtest.Options{DNSNames: []string{"pay.example.com"}})
	auth := func(app Application, cert *certtest.Cert, secret string) (Authenticated, error) {
		cred := Credentials{ClientID: app.ClientID, Method: oauth.AuthNone}
		if secret != "" {
			cred.Secret, cred.Method = secret, oauth.AuthClientSecretPost
		}
		if cert != nil {
			cred.Chain = []*x509.Certificate{cert.Cert}
		}
		return f.clients.Authenticate(ctx, "inst-a", cred)
	}
	t.Run("ok/PKI certificate with the registered SAN", func(t *testing.T) {
		a, err := auth(pki, &good, "")
		if err != nil || a.Method() != oauth.AuthTLSClientAuth || a.Certificate() != good.Cert {
			t.Fatalf("authenticated %+v, %v", a, err)
		}
	})
	for _, tc := range []struct {
		name   string
		app    Application
		cert   *certtest.Cert
		secret string
		reason string
	}{
		{"fail/no certificate", pki, nil, "", "no client certificate"},
		{"fail/wrong subject", pki, &wrongSubject, "", "no SAN DNS name"},
		{"fail/wrong CA", pki, &foreign, "", "unknown authority"},
		{"fail/a secret instead", pki, &good, "ccs_x", ""},
		{"fail/another self-signed certificate", selfApp, &next, "", "is not one the client registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refusals = nil
			_, err := auth(tc.app, tc.cert, tc.secret)
			if !isInvalidClient(err) || oauth.AsError(err).Description != "client authentication failed" {
				t.Fatalf("err = %v, want a plain invalid_client", err)
			}
			if tc.reason != "" && (len(refusals) != 1 || !strings.Contains(refusals[0], tc.reason)) {
				t.Fatalf("refusals = %q, want one with %q", refusals, tc.reason)
			}
		})
	}
	t.Run("ok/the registered self-signed certificate", func(t *testing.T) {
		if _, err := auth(selfApp, &self, ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/a rotated certificate counts at once", func(t *testing.T) {
		if _, err := f.commands.SetCertificates(ctx, eventstore.SystemEditor, "inst-a", selfApp.ID, nil, self.PEM()+next.PEM()); err != nil {
			t.Fatal(err)
		}
		if _, err := auth(selfApp, &next, ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/a JWKS with x5c", func(t *testing.T) {
		set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: next.Key.Public(), KeyID: "k1", Algorithm: "ES256",
			Certificates: []*x509.Certificate{next.Cert}}}})
		if _, err := f.commands.SetCertificates(ctx, eventstore.SystemEditor, "inst-a", selfApp.ID, set, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := auth(selfApp, &next, ""); err != nil {
			t.Fatal(err)
		}
		f.clock.t = f.clock.t.Add(2 * CacheTTL)
		if _, err := auth(selfApp, &self, ""); !isInvalidClient(err) {
			t.Fatalf("the replaced certificate: %v", err)
		}
	})
	t.Run("fail/an expired self-signed certificate", func(t *testing.T) {
		f.clock.t = next.Cert.NotAfter.Add(time.Minute)
		refusals = nil
		if _, err := auth(selfApp, &next, ""); !isInvalidClient(err) || len(refusals) != 1 || !strings.Contains(refusals[0], "expired") {
			t.Fatalf("err = %v, refusals %q", err, refusals)
		}
	})
}

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{"CN=a,O=b", `CN=a\,b+OU=c`, "2.5.4.3=#0403616263", "cn= x ,dc=example,dc=com", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDN(s)
		if err == nil && !d.equal(d) {
			t.Fatal("a DN differs from itself")
		}
	})
}
