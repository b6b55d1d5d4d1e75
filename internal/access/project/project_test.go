package project

import (
	"context"
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/access/group"
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
		group.RegisterEvents(r)
		RegisterEvents(r)
	}, slices.Concat(usertype.Migrations, org.Migrations, user.Migrations, client.Migrations, group.Migrations, Migrations),
		usertype.Projection{}, org.Projection{}, user.Projection{}, client.Projection{}, group.Projection{}, Projection{})
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
	_, err = f.c.AddAuthorization(ctx, admin, inst, Subject{UserID: buyer}, "portal", g.ID, []string{"viewer"})
	wantKind(t, err, failure.KindInvalidArgument)
	_, err = f.c.AddAuthorization(ctx, admin, inst, Subject{UserID: seller}, "portal", g.ID, []string{"purchase_admin"})
	wantKind(t, err, failure.KindNotFound)
	_, err = f.c.AddAuthorization(ctx, admin, inst, Subject{UserID: buyer}, "portal", "", []string{"viewer"})
	wantKind(t, err, failure.KindNotFound) // a CAOS user is not the owner's
	a, err := f.c.AddAuthorization(ctx, admin, inst, Subject{UserID: buyer}, "portal", g.ID, []string{"purchase_admin"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.c.AddAuthorization(ctx, admin, inst, Subject{UserID: buyer}, "portal", g.ID, []string{"purchase_admin"})
	wantKind(t, err, failure.KindAlreadyExists)
	own, err := f.c.AddAuthorization(ctx, admin, inst, Subject{UserID: seller}, "portal", "", []string{"viewer", "purchase_admin"})
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

func TestGroups(t *testing.T) {
	f := setup(t)
	groups := group.NewCommands(f.Store.Store)
	for _, r := range []string{"purchase_admin", "viewer"} {
		if err := f.c.AddRole(ctx, admin, inst, "portal", Role{Key: r}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := f.c.AddGrant(ctx, admin, inst, "portal", "caos", []string{"purchase_admin", "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	buyer, lead := f.user(t, "caos", "buyer"), f.user(t, "caos", "lead")
	other := f.user(t, "other", "stranger")
	buyers, err := groups.Create(ctx, admin, inst, "caos", "Buyers")
	if err != nil {
		t.Fatal(err)
	}
	leads, err := groups.Create(ctx, admin, inst, "caos", "Leads")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.Create(ctx, admin, inst, "caos", "buyers"); !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("a second group of the same name: %v", err)
	}
	if err := groups.AddMember(ctx, admin, inst, buyers.ID, buyer, ""); err != nil {
		t.Fatal(err)
	}
	wantKind(t, groups.AddMember(ctx, admin, inst, buyers.ID, other, ""), failure.KindNotFound) // another organization's user
	if err := groups.AddMember(ctx, admin, inst, leads.ID, lead, ""); err != nil {
		t.Fatal(err)
	}
	// Leads are buyers too: the group nests.
	if err := groups.AddMember(ctx, admin, inst, buyers.ID, "", leads.ID); err != nil {
		t.Fatal(err)
	}
	wantKind(t, groups.AddMember(ctx, admin, inst, leads.ID, "", buyers.ID), failure.KindFailedPrecondition) // a cycle
	wantKind(t, groups.AddMember(ctx, admin, inst, leads.ID, "", leads.ID), failure.KindFailedPrecondition)

	_, err = f.c.AddAuthorization(ctx, admin, inst, Subject{GroupID: buyers.ID}, "portal", "", []string{"viewer"})
	wantKind(t, err, failure.KindNotFound) // CAOS's group is not the owner's
	a, err := f.c.AddAuthorization(ctx, admin, inst, Subject{GroupID: buyers.ID}, "portal", g.ID, []string{"purchase_admin", "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	if !has(t, f, buyer, "purchase_admin") || !has(t, f, lead, "purchase_admin") || has(t, f, other, "purchase_admin") {
		t.Fatal("group members hold the group's roles, through nesting")
	}
	users, err := UsersWithRole(ctx, f.DB(), inst, "portal", "viewer", "", 10)
	if err != nil || len(users) != 2 {
		t.Fatalf("users with the role: %v %v", users, err)
	}
	held, err := RolesOf(ctx, f.DB(), inst, lead, []string{"portal"})
	if err != nil || len(held["portal"]) != 2 || held["portal"][0].OrgID != "caos" {
		t.Fatalf("roles of the lead: %v %v", held, err)
	}

	// Shrinking the grant reaches group authorizations.
	if err := f.c.ChangeGrant(ctx, admin, inst, "portal", g.ID, []string{"viewer"}); err != nil {
		t.Fatal(err)
	}
	if has(t, f, lead, "purchase_admin") || !has(t, f, lead, "viewer") {
		t.Fatal("the grant's change did not reach the group")
	}
	// Leaving the nested group, the lead loses the roles.
	if err := groups.RemoveMember(ctx, admin, inst, buyers.ID, "", leads.ID); err != nil {
		t.Fatal(err)
	}
	if has(t, f, lead, "viewer") || !has(t, f, buyer, "viewer") {
		t.Fatal("leaving the nested group")
	}
	// Removing the group ends its authorization.
	if err := groups.Remove(ctx, admin, inst, buyers.ID); err != nil {
		t.Fatal(err)
	}
	if has(t, f, buyer, "viewer") {
		t.Fatal("a removed group's authorization still holds")
	}
	_, err = GetAuthorization(ctx, f.DB(), inst, a.ID)
	wantKind(t, err, failure.KindNotFound)
}
