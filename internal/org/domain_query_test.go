package org

import (
	"context"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
)

func TestByVerifiedDomain(t *testing.T) {
	s := eventstoretest.New(t, "inst-1", RegisterEvents, Migrations, Projection{})
	a, err := Creation("inst-1", "o1", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	a.Events = append(a.Events, &DomainAdded{Domain: "acme.example"}, &DomainVerified{Domain: "acme.example"}, &DomainAdded{Domain: "claimed.example"})
	s.Given(t, a)
	ctx := context.Background()
	if id, err := ByVerifiedDomain(ctx, s.Store.DB(), "inst-1", "ACME.example."); err != nil || id != "o1" {
		t.Fatalf("verified domain: %q %v", id, err)
	}
	for _, d := range []string{"claimed.example", "other.example"} {
		if _, err := ByVerifiedDomain(ctx, s.Store.DB(), "inst-1", d); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("%s: %v", d, err)
		}
	}
	if _, err := ByVerifiedDomain(ctx, s.Store.DB(), "inst-2", "acme.example"); !failure.Is(err, failure.KindNotFound) {
		t.Fatalf("another instance: %v", err)
	}
}
