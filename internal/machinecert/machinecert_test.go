package machinecert

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

func TestCheck(t *testing.T) {
	now := time.Now()
	self := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "feed"}})
	expired := certtest.SelfSigned(t, certtest.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	for _, tc := range []struct {
		name    string
		pem     string
		subject *client.TLSClientAuth
		field   string // "" for accepted
		says    string
	}{
		{"ok/a certificate", self.PEM(), nil, "", ""},
		{"ok/a subject", "", &client.TLSClientAuth{SANDNS: "feed.example"}, "", ""},
		{"fail/neither", "", nil, "certificate", "register a certificate"},
		{"fail/both", self.PEM(), &client.TLSClientAuth{SANDNS: "feed.example"}, "certificate", "not both"},
		{"fail/two subject values", "", &client.TLSClientAuth{SANDNS: "feed.example", SANEmail: "a@b"}, "tlsClientAuth", "exactly one"},
		{"fail/a malformed DN", "", &client.TLSClientAuth{SubjectDN: "CN"}, "tlsClientAuth.subjectDn", "RFC 4514"},
		{"fail/expired", expired.PEM(), nil, "certificate", "expired at"},
		{"fail/a private key", self.KeyPEM(t), nil, "certificate", "not CERTIFICATE"},
		{"fail/two certificates", self.PEM() + expired.PEM(), nil, "certificate", "at most 1"},
		{"fail/not PEM", "hello", nil, "certificate", "after its last PEM block"},
		{"fail/too long", strings.Repeat("A", maxPEM+1), nil, "certificate", "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(tc.pem, tc.subject, now)
			var f *failure.Error
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field == "":
			case !errors.As(err, &f) || f.Kind != failure.KindInvalidArgument || f.Field != tc.field || !strings.Contains(f.Message, tc.says):
				t.Fatalf("got %v, want InvalidArgument on %s saying %q", err, tc.field, tc.says)
			case strings.Contains(err.Error(), "-----"):
				t.Fatalf("the error repeats PEM input: %v", err)
			}
		})
	}
}

// stubVerifier accepts chains whose leaf was issued by ca.
type stubVerifier struct{ ca *x509.Certificate }

func (v stubVerifier) Verify(_ context.Context, _, _ string, chain []*x509.Certificate) error {
	if chain[0].CheckSignatureFrom(v.ca) != nil {
		return &trustset.Refused{Reason: "does not trust the issuer"}
	}
	return nil
}

func TestAccepts(t *testing.T) {
	now := time.Now()
	ca := certtest.NewCA(t, "Root")
	self := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "feed"}})
	other := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "feed"}})
	issued := ca.Issue(t, certtest.Options{DNSNames: []string{"feed.example"}})
	wrong := ca.Issue(t, certtest.Options{DNSNames: []string{"other.example"}})
	foreign := certtest.NewCA(t, "Other").Issue(t, certtest.Options{DNSNames: []string{"feed.example"}})
	a := &Authenticator{trustSets: stubVerifier{ca.Cert.Cert}, now: time.Now}
	registered := Certificate{ID: "c1", PEM: self.PEM()}
	subject := Certificate{ID: "c2", Subject: &client.TLSClientAuth{SANDNS: "feed.example"}}
	for _, tc := range []struct {
		name string
		reg  Certificate
		cert certtest.Cert
		says string // "" for accepted
	}{
		{"ok/the registered certificate", registered, self, ""},
		{"ok/a certificate of the set with the subject", subject, issued, ""},
		{"fail/another certificate", registered, other, "not registered certificate"},
		{"fail/another subject", subject, wrong, "no SAN DNS name"},
		{"fail/another CA", subject, foreign, "does not trust"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, err := a.accepts(context.Background(), "i", tc.reg, []*x509.Certificate{tc.cert.Cert}, now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.says == "" && reason != "" || tc.says != "" && !strings.Contains(reason, tc.says) {
				t.Fatalf("reason %q, want %q", reason, tc.says)
			}
		})
	}
	t.Run("fail/the registered certificate after it expired", func(t *testing.T) {
		reason, _ := a.accepts(context.Background(), "i", registered, []*x509.Certificate{self.Cert}, self.Cert.NotAfter.Add(time.Second))
		if !strings.Contains(reason, "expired at") {
			t.Fatalf("reason %q", reason)
		}
	})
	t.Run("fail/the registered certificate before it is valid", func(t *testing.T) {
		reason, _ := a.accepts(context.Background(), "i", registered, []*x509.Certificate{self.Cert}, self.Cert.NotBefore.Add(-time.Second))
		if !strings.Contains(reason, "not valid before") {
			t.Fatalf("reason %q", reason)
		}
	})
}

// FuzzCheck: no registration input panics, and a refusal never repeats
// PEM armour of its input (go test ./internal/machinecert -run '^$' -fuzz
// FuzzCheck -fuzztime 20s).
func FuzzCheck(f *testing.F) {
	self := certtest.SelfSigned(f, certtest.Options{Subject: pkix.Name{CommonName: "feed"}})
	f.Add(self.PEM(), "")
	f.Add("", "CN=feed, O=Example")
	f.Add("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "")
	f.Add(self.PEM()+"trailing", "")
	f.Fuzz(func(t *testing.T, pemText, dn string) {
		var subject *client.TLSClientAuth
		if dn != "" {
			subject = &client.TLSClientAuth{SubjectDN: dn}
		}
		if _, err := check(pemText, subject, time.Now()); err != nil && strings.Contains(err.Error(), "-----BEGIN") {
			t.Fatalf("the error repeats the input: %v", err)
		}
	})
}
