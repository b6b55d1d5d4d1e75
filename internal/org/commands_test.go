package org

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/metadata"
)

const inst = "inst-1"

var (
	ctx    = context.Background()
	editor = eventstore.Editor{UserID: "admin-1"}
)

// challenges is a stand-in for the internet: published TXT records and
// challenge files, served by a real local HTTP server.
type challenges struct {
	mu    sync.Mutex
	txt   map[string][]string
	files map[string]string // host + path -> body
}

func (c *challenges) publish(set func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set()
}

func newVerifier(t *testing.T) (*Verifier, *challenges) {
	c := &challenges{txt: map[string][]string{}, files: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		body, ok := c.files[r.Host+r.URL.Path]
		c.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body + "\n"))
	}))
	t.Cleanup(srv.Close)
	v := NewVerifier()
	v.LookupTXT = func(_ context.Context, name string) ([]string, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if r, ok := c.txt[name]; ok {
			return r, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	// Every domain resolves to the local server.
	v.HTTPClient.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	return v, c
}

func setup(t *testing.T) (*eventstoretest.Store, *Commands, *challenges) {
	t.Helper()
	s := eventstoretest.New(t, inst, RegisterEvents, Migrations, Projection{})
	v, c := newVerifier(t)
	return s, NewCommands(s.Store, v), c
}

func created(t *testing.T, id, name string) eventstore.Append {
	t.Helper()
	a, err := Creation(inst, id, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func wantKind(t *testing.T, err error, kind failure.Kind) {
	t.Helper()
	if !failure.Is(err, kind) {
		t.Fatalf("got %v, want %s", err, kind)
	}
}

func TestCreateAndRename(t *testing.T) {
	s, c, _ := setup(t)
	s.Given(t, created(t, "o1", "Acme"))

	_, err := c.Create(ctx, editor, inst, "ACME")
	wantKind(t, err, failure.KindAlreadyExists)
	_, err = c.Create(ctx, editor, inst, "   ")
	wantKind(t, err, failure.KindInvalidArgument)
	s.Then(t)

	if err := c.Rename(ctx, editor, inst, "o1", "Acme"); err != nil {
		t.Fatal(err)
	}
	s.Then(t) // renaming to the current name appends nothing
	if err := c.Rename(ctx, editor, inst, "o1", "Acme Corp"); err != nil {
		t.Fatal(err)
	}
	s.Then(t, &Renamed{Name: "Acme Corp"})
	// The old name is free again.
	if _, err := c.Create(ctx, editor, inst, "acme"); err != nil {
		t.Fatalf("old name should be free: %v", err)
	}
	wantKind(t, c.Rename(ctx, editor, inst, "nope", "x"), failure.KindNotFound)
}

func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		given []eventstore.Payload
		when  func(c *Commands) error
		then  []eventstore.Payload
		fail  failure.Kind
	}{
		{"ok/deactivate active", nil, func(c *Commands) error { return c.Deactivate(ctx, editor, inst, "o1") }, []eventstore.Payload{&Deactivated{}}, 0},
		{"fail/deactivate inactive", []eventstore.Payload{&Deactivated{}}, func(c *Commands) error { return c.Deactivate(ctx, editor, inst, "o1") }, nil, failure.KindFailedPrecondition},
		{"ok/reactivate inactive", []eventstore.Payload{&Deactivated{}}, func(c *Commands) error { return c.Reactivate(ctx, editor, inst, "o1") }, []eventstore.Payload{&Reactivated{}}, 0},
		{"fail/reactivate active", nil, func(c *Commands) error { return c.Reactivate(ctx, editor, inst, "o1") }, nil, failure.KindFailedPrecondition},
		{"ok/remove", nil, func(c *Commands) error { return c.Remove(ctx, editor, inst, "o1") }, []eventstore.Payload{&Removed{}}, 0},
		{"fail/anything after remove", []eventstore.Payload{&Removed{}}, func(c *Commands) error { return c.Rename(ctx, editor, inst, "o1", "x") }, nil, failure.KindNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := setup(t)
			a := created(t, "o1", "Acme")
			a.Events = append(a.Events, tc.given...)
			s.Given(t, a)
			err := tc.when(c)
			if tc.fail != 0 {
				wantKind(t, err, tc.fail)
			} else if err != nil {
				t.Fatal(err)
			}
			s.Then(t, tc.then...)
		})
	}
}

func TestDomainVerification(t *testing.T) {
	s, c, ch := setup(t)
	s.Given(t, created(t, "o1", "Acme"), created(t, "o2", "Globex"))

	wantKind(t, c.AddDomain(ctx, editor, inst, "o1", "not a domain"), failure.KindInvalidArgument)
	wantKind(t, c.AddDomain(ctx, editor, inst, "o1", "localhost"), failure.KindInvalidArgument)
	if err := c.AddDomain(ctx, editor, inst, "o1", "Acme.Example."); err != nil {
		t.Fatal(err)
	}
	wantKind(t, c.AddDomain(ctx, editor, inst, "o1", "acme.example"), failure.KindAlreadyExists)
	wantKind(t, c.SetPrimaryDomain(ctx, editor, inst, "o1", "acme.example"), failure.KindFailedPrecondition)
	wantKind(t, c.VerifyDomain(ctx, editor, inst, "o1", "acme.example"), failure.KindFailedPrecondition)
	_, err := c.RequestDomainVerification(ctx, editor, inst, "o1", "acme.example", "carrier-pigeon")
	wantKind(t, err, failure.KindInvalidArgument)

	// HTTP: nothing published yet, then the wrong token, then the right one.
	token, err := c.RequestDomainVerification(ctx, editor, inst, "o1", "acme.example", MethodHTTP)
	if err != nil {
		t.Fatal(err)
	}
	s.Then(t, &DomainAdded{Domain: "acme.example"}, &DomainVerificationRequested{Domain: "acme.example", Method: MethodHTTP, Token: token})
	s.Given(t)
	wantKind(t, c.VerifyDomain(ctx, editor, inst, "o1", "acme.example"), failure.KindFailedPrecondition)
	path := "acme.example/.well-known/castellan-challenge/" + token
	ch.publish(func() { ch.files[path] = "wrong" })
	wantKind(t, c.VerifyDomain(ctx, editor, inst, "o1", "acme.example"), failure.KindFailedPrecondition)
	s.Then(t)
	ch.publish(func() { ch.files[path] = token })
	if err := c.VerifyDomain(ctx, editor, inst, "o1", "acme.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPrimaryDomain(ctx, editor, inst, "o1", "acme.example"); err != nil {
		t.Fatal(err)
	}
	s.Then(t, &DomainVerified{Domain: "acme.example"}, &PrimaryDomainSet{Domain: "acme.example"})
	wantKind(t, c.RemoveDomain(ctx, editor, inst, "o1", "acme.example"), failure.KindFailedPrecondition)

	// DNS: another organization may claim the domain but not prove it too.
	if err := c.AddDomain(ctx, editor, inst, "o2", "acme.example"); err != nil {
		t.Fatal(err)
	}
	token2, err := c.RequestDomainVerification(ctx, editor, inst, "o2", "acme.example", MethodDNS)
	if err != nil {
		t.Fatal(err)
	}
	ch.publish(func() { ch.txt["_castellan-challenge.acme.example"] = []string{"v=spf1 -all", token2} })
	err = c.VerifyDomain(ctx, editor, inst, "o2", "acme.example")
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Kind != failure.KindAlreadyExists || fe.Field != "domain" {
		t.Fatalf("second organization verifying the same domain: %v", err)
	}

	// Removing the first organization frees the domain for the second.
	if err := c.Remove(ctx, editor, inst, "o1"); err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyDomain(ctx, editor, inst, "o2", "acme.example"); err != nil {
		t.Fatalf("domain should be free after the owner was removed: %v", err)
	}
	o, err := Get(ctx, s.DB(), inst, "o2")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Domains) != 1 || !o.Domains[0].Verified || o.Domains[0].Method != MethodDNS || o.PrimaryDomain != "" {
		t.Fatalf("read model: %+v", o)
	}
	if _, err := Get(ctx, s.DB(), inst, "o1"); !failure.Is(err, failure.KindNotFound) {
		t.Fatalf("removed organization readable: %v", err)
	}
}

func TestMetadata(t *testing.T) {
	s, c, _ := setup(t)
	s.Given(t, created(t, "o1", "Acme"))
	if err := c.SetMetadata(ctx, editor, inst, "o1", "tier", []byte("gold")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMetadata(ctx, editor, inst, "o1", "tier", []byte("platinum")); err != nil {
		t.Fatal(err)
	}
	wantKind(t, c.SetMetadata(ctx, editor, inst, "o1", "", nil), failure.KindInvalidArgument)
	wantKind(t, c.SetMetadata(ctx, editor, inst, "o1", "big", []byte(strings.Repeat("x", metadata.MaxValue+1))), failure.KindInvalidArgument)
	wantKind(t, c.RemoveMetadata(ctx, editor, inst, "o1", "nope"), failure.KindNotFound)
	o, err := Get(ctx, s.DB(), inst, "o1")
	if err != nil || string(o.Metadata["tier"]) != "platinum" {
		t.Fatalf("metadata read back: %v %v", o.Metadata, err)
	}
	if err := c.RemoveMetadata(ctx, editor, inst, "o1", "tier"); err != nil {
		t.Fatal(err)
	}
	s.Then(t, &MetadataSet{Key: "tier", Value: []byte("gold")}, &MetadataSet{Key: "tier", Value: []byte("platinum")}, &MetadataRemoved{Key: "tier"})
}

func FuzzValidateDomain(f *testing.F) {
	for _, s := range []string{"example.com", "a-b.c", "-a.b", "a..b", "EXAMPLE.com.", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ValidateDomain(in)
		if err != nil {
			return
		}
		if again, err := ValidateDomain(d); err != nil || again != d {
			t.Fatalf("ValidateDomain(%q) = %q, which does not validate to itself (%q, %v)", in, d, again, err)
		}
	})
}
