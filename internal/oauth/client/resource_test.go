package client

import (
	"net/url"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
)

func TestCheckResourceURI(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"https://api.example.com/", true},
		{"https://api.example.com/v1?tenant=acme", true},
		{"urn:example:invoices", true},
		{"http://127.0.0.1:8081", true},
		{"", false},
		{"/relative", false},
		{"api.example.com", false},
		{"https://api.example.com/#frag", false},
		{"https://api.example.com/#", false},
		{"https://api.example.com/ x", false},
		{"https://api.example.com/\n", false},
		{"https:///path", false},
		{"https://api.example.com/é", false},
		{"https://api.example.com/" + strings.Repeat("a", 500), false},
	} {
		if err := CheckResourceURI(tc.uri); (err == nil) != tc.ok {
			t.Errorf("CheckResourceURI(%q) = %v; want ok %v", tc.uri, err, tc.ok)
		}
	}
}

// FuzzCheckResourceURI: what is accepted is an absolute URI without a
// fragment, short and printable.
func FuzzCheckResourceURI(f *testing.F) {
	for _, s := range []string{"https://api.example.com/", "urn:x:y", "https://a/#f", "", "a:", "//host/p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckResourceURI(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(raw, "#") || len(raw) > maxResourceURI || strings.ContainsAny(raw, " \t\r\n") {
			t.Fatalf("accepted %q", raw)
		}
	})
}

func TestResourceApplications(t *testing.T) {
	f := newFixture(t)
	api, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID,
		ApplicationSpec{Name: "invoices", Kind: KindAPI, ResourceURI: "https://invoices.example/"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.clients.Resource(ctx, "inst-a", "https://invoices.example/")
	if err != nil || got.ID != api.ID || got.ResourceURI != "https://invoices.example/" {
		t.Fatalf("Resource = %+v, %v", got, err)
	}
	for name, uri := range map[string]string{"unknown": "https://other.example/", "malformed": "not a uri", "another case": "https://INVOICES.example/"} {
		if _, err := f.clients.Resource(ctx, "inst-a", uri); !failure.Is(err, failure.KindNotFound) {
			t.Errorf("%s: Resource = %v; want not found", name, err)
		}
	}
	if _, err := f.clients.Resource(ctx, "inst-b", "https://invoices.example/"); !failure.Is(err, failure.KindNotFound) {
		t.Errorf("another instance: Resource = %v; want not found", err)
	}
	for name, spec := range map[string]ApplicationSpec{
		"a second API with the same URI": {Name: "dup", Kind: KindAPI, ResourceURI: "https://invoices.example/"},
		"a client with a resource URI":   {Name: "c", GrantTypes: []string{oauth.GrantClientCredentials}, ResourceURI: "https://c.example/"},
		"a fragment":                     {Name: "f", Kind: KindAPI, ResourceURI: "https://f.example/#x"},
		"impersonation without exchange": {Name: "i", GrantTypes: []string{oauth.GrantClientCredentials}, ImpersonationAllowed: true},
	} {
		if _, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID, spec); err == nil {
			t.Errorf("%s: created", name)
		}
	}
	ex, _, err := f.commands.CreateApplication(ctx, eventstore.SystemEditor, "inst-a", f.project.ID,
		ApplicationSpec{Name: "exchanger", GrantTypes: []string{oauth.GrantTokenExchange}, ImpersonationAllowed: true})
	if err != nil {
		t.Fatal(err)
	}
	read, err := GetApplication(ctx, f.store.DB(), "inst-a", ex.ID)
	if err != nil || !read.ImpersonationAllowed || !read.Allows(oauth.GrantTokenExchange) {
		t.Fatalf("GetApplication = %+v, %v", read, err)
	}
}
