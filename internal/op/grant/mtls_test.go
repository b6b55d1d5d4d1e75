package grant

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// fakeGrants knows refresh tokens by value.
type fakeGrants map[string]grants.Grant

func (f fakeGrants) Issue(context.Context, eventstore.Editor, grants.Spec) (string, error) {
	return "", nil
}
func (f fakeGrants) Refresh(context.Context, string, string, string, time.Duration) (grants.Grant, string, error) {
	return grants.Grant{}, "", grants.ErrInvalid
}
func (f fakeGrants) RefreshBound(context.Context, string, string, string, time.Duration, string) (grants.Grant, string, error) {
	return grants.Grant{}, "", grants.ErrInvalid
}
func (f fakeGrants) Renew(context.Context, string, string, string, time.Duration, string) (grants.Grant, error) {
	return grants.Grant{}, grants.ErrInvalid
}
func (f fakeGrants) Revoke(context.Context, eventstore.Editor, string, string, string) error {
	return nil
}
func (f fakeGrants) ByRefreshToken(_ context.Context, _, token string) (grants.Grant, time.Time, error) {
	g, ok := f[token]
	if !ok {
		return grants.Grant{}, time.Time{}, grants.ErrInvalid
	}
	return g, time.Now().Add(time.Hour), nil
}

func TestCertificateBinding(t *testing.T) {
	cert := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "a"}})
	other := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "b"}})
	bound := client.Application{ClientID: "c1", CertificateBoundTokens: true}
	if cnf, err := bindTo(bound, cert.Cert); err != nil || cnf == nil || cnf.X5TS256 != client.Thumbprint(cert.Cert) {
		t.Fatalf("bound: %+v, %v", cnf, err)
	}
	if _, err := bindTo(bound, nil); oauth.AsError(err) == nil || oauth.AsError(err).Code != oauth.InvalidRequest {
		t.Fatalf("bound without certificate: %v", err)
	}
	if cnf, err := bindTo(client.Application{ClientID: "c2"}, cert.Cert); cnf != nil || err != nil {
		t.Fatalf("an application that does not bind: %+v, %v", cnf, err)
	}

	store := fakeGrants{
		"rt-bound":   {ClientID: "spa", Cnf: &oauth.Confirmation{X5TS256: client.Thumbprint(cert.Cert)}},
		"rt-bearer":  {ClientID: "spa"},
		"rt-foreign": {ClientID: "other", Cnf: &oauth.Confirmation{X5TS256: client.Thumbprint(cert.Cert)}},
	}
	public := client.Application{ClientID: "spa", Public: true, CertificateBoundTokens: true}
	for _, tc := range []struct {
		name string
		app  client.Application
		cert *certtest.Cert
		raw  string
		ok   bool
	}{
		{"ok/a bound refresh token with its certificate", public, &cert, "rt-bound", true},
		{"fail/a bound refresh token with another certificate", public, &other, "rt-bound", false},
		{"fail/a bound refresh token without a certificate", public, nil, "rt-bound", false},
		{"ok/an unbound refresh token", public, nil, "rt-bearer", true},
		{"ok/an unknown token is left to the rotation", public, nil, "rt-unknown", true},
		{"ok/another client's token is left to the rotation", public, nil, "rt-foreign", true},
		{"ok/a confidential client is bound by its authentication", client.Application{ClientID: "spa"}, nil, "rt-bound", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var presented *x509.Certificate
			if tc.cert != nil {
				presented = tc.cert.Cert
			}
			err := checkBoundRefresh(context.Background(), store, "inst", tc.app, presented, tc.raw)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
			if err != nil && oauth.AsError(err).Code != oauth.InvalidGrant {
				t.Fatalf("err = %v, want invalid_grant", err)
			}
		})
	}
	if got := refreshBinding(Request{}, &oauth.Confirmation{X5TS256: "x"}); got != nil {
		t.Fatalf("a request without a public client binds its refresh token: %+v", got)
	}
}
