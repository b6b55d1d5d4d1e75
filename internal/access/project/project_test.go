package project

import (
	"context"
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

const inst = "inst-a"

var (
	ctx   = context.Background()
	admin = eventstore.Editor{UserID: "admin"}
)

type fixture struct {
	*eventstoretest.Store
	c     *Commands
	users *user.Commands
}

func setup(t *testing.T) *fixture {
	t.Helper()
	s := eventstoretest.New(t, inst, func(r *eventstore.Registry) {
		user.RegisterEvents(r)
		usertype.RegisterEvents(r)
		org.RegisterEvents(r)
		client.RegisterEvents(r)
		RegisterEvents(r)
	}, slices.Concat(usertype.Migrations, org.Migrations, user.Migrations, client.Migrations, Migrations),
		usertype.Projection{}, org.Projection{}, user.Projection{}, client.Projection{}, Projection{})
	given, err := usertype.DefaultCreations(inst)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"digitec", "caos", "other"} {
		a, err := org.Creation(inst, o, "Org "+o)
		if err != nil {
			t.Fatal(err)
		}
		given = append(given, a)
	}
	given = append(given, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: inst, Type: AggregateType, ID: "portal", Owner: "digitec"},
		ExpectedSequence: eventstore.NewAggregate, Events: []eventstore.Payload{&client.ProjectAdded{Name: "B2B portal"}}})
	s.Given(t, given...)
	return &fixture{Store: s, c: NewCommands(s.Store), users: user.NewCommands(s.Store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 1))}
}

func (f *fixture) user(t *testing.T, orgID, login string) string {
	t.Helper()
	id, err := f.users.Create(ctx, admin, inst, user.New{Type: "human", OrgID: orgID, LoginName: login, Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wantKind(t *testing.T, err error, k failure.Kind) {
	t.Helper()
	if !failure.Is(err, k) {
		t.Fatalf("got %v, want %s", err, k)
	}
}

func has(t *testing.T, f *fixture, userID, role string) bool {
	t.Helper()
	ok, err := HasRole(ctx, f.DB(), inst, userID, "portal", role)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestDelegation(t *testing.T) {
	f := setup(t)
	for _, r := range []Role{{Key: "purchase_admin", DisplayName: "Purchase administrator"}, {Key: "viewer"}} {
		if err := f.c.AddRole(ctx, admin, inst, "portal", r); err != nil {
			t.Fatal(err)
		}
	}
	wantKind(t, f.c.AddRole(ctx, admin, inst, "portal", Role{Key: "viewer"}), failure.KindAlreadyExists)
	wantKind(t, f.c.AddRole(ctx, admin, inst, "portal", Role{Key: "bad key"}), failure.KindInvalidArgument)
	wantKind(t, f.c.AddRole(ctx, admin, inst, "missing", Role{Key: "x"}), failure.KindNotFound)

	_, err := f.c.AddGrant(ctx, admin, inst, "portal", "digitec", []string{"viewer"})
	wantKind(t, err, failure.KindInvalidArgument) // to its own organization
	_, err = f.c.AddGrant(ctx, admin, inst, "portal", "caos", []string{"owner"})
	wantKind(t, err, failure.KindInvalidArgument) // not a role of the project
	g, err := f.c.AddGrant(ctx, admin, inst, "portal", "caos", []string{"purchase_admin"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.c.AddGrant(ctx, admin, inst, "portal", "caos", []string{"viewer"})
	wantKind(t, err, failure.KindAlreadyExists)

	buyer := f.user(t, "caos", "buyer")
	seller := f.user(t, "digitec", "seller")
	// Under the grant: only the granted organization's users, only the
	// grant's roles.
	_, err = f.c.AddAuthorization(ctx, admin, inst, buyer, "portal", g.ID, []string{"viewer"})
	wantKind(t, err, failure.KindInvalidArgument)
	_, err = f.c.AddAuthorization(ctx, admin, inst, seller, "portal", g.ID, []string{"purchase_admin"})
	wantKind(t, err, failure.KindNotFound)
	_, err = f.c.AddAuthorization(ctx, admin, inst, buyer, "portal", "", []string{"viewer"})
	wantKind(t, err, failure.KindNotFound) // a CAOS user is not the owner's
	a, err := f.c.AddAuthorization(ctx, admin, inst, buyer, "portal", g.ID, []string{"purchase_admin"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.c.AddAuthorization(ctx, admin, inst, buyer, "portal", g.ID, []string{"purchase_admin"})
	wantKind(t, err, failure.KindAlreadyExists)
	own, err := f.c.AddAuthorization(ctx, admin, inst, seller, "portal", "", []string{"viewer", "purchase_admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !has(t, f, buyer, "purchase_admin") || has(t, f, buyer, "viewer") || !has(t, f, seller, "viewer") {
		t.Fatal("decisions after authorizing")
	}
	held, err := RolesOf(ctx, f.DB(), inst, buyer, []string{"portal"})
	if err != nil || len(held["portal"]) != 1 || held["portal"][0] != (Held{Role: "purchase_admin", OrgID: "caos"}) {
		t.Fatalf("roles of the buyer: %v %v", held, err)
	}

	// Shrinking the grant takes the role from the authorizations under it
	// (events on their aggregates), not from the owner's own.
	if err := f.c.ChangeGrant(ctx, admin, inst, "portal", g.ID, []string{"viewer"}); err != nil {
		t.Fatal(err)
	}
	if has(t, f, buyer, "purchase_admin") || !has(t, f, seller, "purchase_admin") {
		t.Fatal("the grant's change did not cascade as it should")
	}
	got, err := GetAuthorization(ctx, f.DB(), inst, a.ID)
	if err != nil || len(got.Roles) != 0 {
		t.Fatalf("authorization after the grant shrank: %+v %v", got, err)
	}
	events, err := f.Store.Store.Query(ctx, eventstore.Filter{InstanceID: inst, AggregateIDs: []string{a.ID}})
	if err != nil || len(events) != 2 || events[1].Type != "authorization.changed" {
		t.Fatalf("the cascade is not an event of the authorization: %v %v", events, err)
	}

	// Removing a role cascades to grants and authorizations.
	if err := f.c.RemoveRole(ctx, admin, inst, "portal", "viewer"); err != nil {
		t.Fatal(err)
	}
	if has(t, f, seller, "viewer") || !has(t, f, seller, "purchase_admin") {
		t.Fatal("removing a role")
	}
	gr, err := GetGrant(ctx, f.DB(), inst, g.ID)
	if err != nil || len(gr.Roles) != 0 {
		t.Fatalf("grant after its role was removed: %+v %v", gr, err)
	}
	got, _ = GetAuthorization(ctx, f.DB(), inst, own.ID)
	if !slices.Equal(got.Roles, []string{"purchase_admin"}) {
		t.Fatalf("own authorization: %v", got.Roles)
	}

	// Revoking the grant removes the authorizations under it.
	if err := f.c.RemoveGrant(ctx, admin, inst, "portal", g.ID); err != nil {
		t.Fatal(err)
	}
	_, err = GetAuthorization(ctx, f.DB(), inst, a.ID)
	wantKind(t, err, failure.KindNotFound)
	if _, err := f.c.AddGrant(ctx, admin, inst, "portal", "caos", nil); err != nil {
		t.Fatalf("grant again after revoking: %v", err)
	}
}
