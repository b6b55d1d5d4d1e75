package trustset_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

var ctx = context.Background()

func newStore(t *testing.T) *eventstoretest.Store {
	return eventstoretest.New(t, "inst-a", trustset.RegisterEvents, trustset.Migrations, trustset.Projection{})
}

func TestTrustSetCommands(t *testing.T) {
	s := newStore(t)
	c := trustset.NewCommands(s.Store)
	ca, other := certtest.NewCA(t, "Bank Root"), certtest.NewCA(t, "Other Root")
	leaf := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "leaf"}})
	for _, tc := range []struct {
		name  string
		spec  trustset.Spec
		field string
	}{
		{"fail/no name", trustset.Spec{Certificates: ca.PEM()}, "name"},
		{"fail/no certificate", trustset.Spec{Name: "x"}, "certificates"},
		{"fail/not PEM", trustset.Spec{Name: "x", Certificates: "hello"}, "certificates"},
		{"fail/a leaf is not a CA", trustset.Spec{Name: "x", Certificates: leaf.PEM()}, "certificates"},
		{"fail/trailing garbage", trustset.Spec{Name: "x", Certificates: ca.PEM() + "junk"}, "certificates"},
		{"fail/CRL of another CA", trustset.Spec{Name: "x", Certificates: ca.PEM(), CRLs: other.CRL(t, time.Now().Add(time.Hour))}, "crls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", tc.spec)
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field {
				t.Fatalf("err = %v, want invalid %s", err, tc.field)
			}
		})
	}
	first, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", trustset.Spec{Name: "Banks", Certificates: ca.PEM(),
		CRLs: ca.CRL(t, time.Now().Add(time.Hour)), Default: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", trustset.Spec{Name: "Others", Certificates: other.PEM(), Default: true}); !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("a second default set: err = %v, want already exists", err)
	}
	if _, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", trustset.Spec{Name: "banks", Certificates: other.PEM()}); !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("a second set named banks: err = %v, want already exists", err)
	}
	second, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", trustset.Spec{Name: "Others", Certificates: other.PEM()})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := trustset.Default(ctx, s.DB(), "inst-a"); err != nil || d.ID != first.ID {
		t.Fatalf("default = %+v, %v", d, err)
	}
	// Moving the default: the first gives it up, then the second takes it.
	if _, err := c.Update(ctx, eventstore.SystemEditor, "inst-a", first.ID, trustset.Spec{Name: "Banks", Certificates: ca.PEM()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, eventstore.SystemEditor, "inst-a", second.ID, trustset.Spec{Name: "Others", Certificates: other.PEM(), Default: true}); err != nil {
		t.Fatal(err)
	}
	if d, err := trustset.Default(ctx, s.DB(), "inst-a"); err != nil || d.ID != second.ID {
		t.Fatalf("default = %+v, %v", d, err)
	}
	if err := c.Remove(ctx, eventstore.SystemEditor, "inst-a", second.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := trustset.Default(ctx, s.DB(), "inst-a"); !failure.Is(err, failure.KindNotFound) {
		t.Fatalf("default after removal: %v", err)
	}
	list, err := trustset.List(ctx, s.DB(), "inst-a")
	if err != nil || len(list) != 1 || list[0].ID != first.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if _, err := trustset.Get(ctx, s.DB(), "inst-b", first.ID); !failure.Is(err, failure.KindNotFound) {
		t.Fatalf("another instance's set: %v", err)
	}
}

func TestVerify(t *testing.T) {
	s := newStore(t)
	c := trustset.NewCommands(s.Store)
	ca, other := certtest.NewCA(t, "Bank Root"), certtest.NewCA(t, "Other Root")
	good := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "good"}})
	revoked := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "revoked"}})
	expired := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "expired"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "future"}, NotBefore: time.Now().Add(time.Hour)})
	foreign := other.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "foreign"}})
	self := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "self"}})
	set, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", trustset.Spec{Name: "Banks", Certificates: ca.PEM(),
		CRLs: ca.CRL(t, time.Now().Add(time.Hour), revoked), Default: true})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", trustset.Spec{Name: "Stale", Certificates: ca.PEM(),
		CRLs: ca.CRL(t, time.Now().Add(-time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	v := trustset.NewVerifier(s.DB(), nil)
	for _, tc := range []struct {
		name   string
		set    string
		cert   certtest.Cert
		reason string
	}{
		{"ok/good certificate, named set", set.ID, good, ""},
		{"ok/good certificate, default set", "", good, ""},
		{"fail/expired", set.ID, expired, "expired at"},
		{"fail/not yet valid", set.ID, future, "not valid before"},
		{"fail/revoked by the CRL", set.ID, revoked, "was revoked at"},
		{"fail/another CA", set.ID, foreign, "does not trust"},
		{"fail/self-signed", set.ID, self, "does not trust"},
		{"fail/stale CRL", stale.ID, good, "is stale since"},
		{"fail/unknown set", "nope", good, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(ctx, "inst-a", tc.set, []*x509.Certificate{tc.cert.Cert})
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var r *trustset.Refused
			if !errors.As(err, &r) || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("err = %v, want a refusal with %q", err, tc.reason)
			}
		})
	}
	// Another instance has no default set: refused, not an error.
	var r *trustset.Refused
	if err := v.Verify(ctx, "inst-b", "", []*x509.Certificate{good.Cert}); !errors.As(err, &r) {
		t.Fatalf("another instance: %v", err)
	}
}

// A chain that verified is remembered only while the set it verified
// with is: a CRL published later refuses the certificate within CacheTTL.
func TestVerifiedChainsFollowTheSet(t *testing.T) {
	s := newStore(t)
	c := trustset.NewCommands(s.Store)
	ca := certtest.NewCA(t, "Bank Root")
	good := ca.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "good"}})
	set, err := c.Create(ctx, eventstore.SystemEditor, "inst-a", trustset.Spec{Name: "Banks", Certificates: ca.PEM()})
	if err != nil {
		t.Fatal(err)
	}
	offset := time.Duration(0)
	v := trustset.NewVerifier(s.DB(), func() time.Time { return time.Now().Add(offset) })
	chain := []*x509.Certificate{good.Cert}
	if err := v.Verify(ctx, "inst-a", set.ID, chain); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, eventstore.SystemEditor, "inst-a", set.ID, trustset.Spec{Name: "Banks", Certificates: ca.PEM(),
		CRLs: ca.CRL(t, time.Now().Add(time.Hour), good)}); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ctx, "inst-a", set.ID, chain); err != nil {
		t.Fatalf("within CacheTTL the remembered verification holds: %v", err)
	}
	offset = 2 * trustset.CacheTTL
	var r *trustset.Refused
	if err := v.Verify(ctx, "inst-a", set.ID, chain); !errors.As(err, &r) || !strings.Contains(r.Reason, "revoked") {
		t.Fatalf("after CacheTTL: %v, want revoked", err)
	}
}
