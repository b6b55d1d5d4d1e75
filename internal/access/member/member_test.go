package member

import (
	"context"
	"testing"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
)

func TestCallerPermissions(t *testing.T) {
	ctx := context.Background()
	s := eventstoretest.New(t, "inst-1", func(r *eventstore.Registry) {
		RegisterEvents(r)
		instance.RegisterEvents(r)
		org.RegisterEvents(r)
		user.RegisterEvents(r)
		project.RegisterEvents(r)
		pat.RegisterEvents(r)
	}, append([]database.Migration(nil), Migrations...), Projection{})
	s.Given(t, instance.AddMember("inst-1", "root", authz.InstanceOwner), orgAppend("inst-1", "org-a", &OrgMemberAdded{UserID: "alice", Roles: []string{"org.user_manager"}}))
	if err := NewCommands(s.Store).AddOrgMember(ctx, eventstore.SystemEditor, "inst-1", "org-a", "bob", []string{"instance.owner"}); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("an instance role granted on an organization: %v", err)
	}

	root, err := LoadCaller(ctx, s.DB(), "inst-1", "root")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := LoadCaller(ctx, s.DB(), "inst-1", "alice")
	if err != nil {
		t.Fatal(err)
	}
	aliceElsewhere, err := LoadCaller(ctx, s.DB(), "inst-2", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		caller authz.Caller
		perm   authz.Permission
		scope  authz.Scope
		ok     bool
	}{
		{"ok/instance owner on any org", root, authz.UserDelete, authz.Org("org-z"), true},
		{"ok/instance owner on the instance", root, authz.SchemaWrite, authz.Instance(), true},
		{"ok/user manager writes users of its org", alice, authz.UserWrite, authz.Org("org-a"), true},
		{"fail/user manager in another org", alice, authz.UserWrite, authz.Org("org-b"), false},
		{"fail/user manager renames the org", alice, authz.OrgWrite, authz.Org("org-a"), false},
		{"fail/user manager on the instance", alice, authz.SchemaWrite, authz.Instance(), false},
		{"fail/same user id in another instance", aliceElsewhere, authz.UserRead, authz.Org("org-a"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.caller.Require(tc.perm, tc.scope)
			if tc.ok && err != nil {
				t.Fatal(err)
			}
			if !tc.ok && !failure.Is(err, failure.KindPermissionDenied) {
				t.Fatalf("got %v, want permission denied", err)
			}
		})
	}

	if !alice.CanAnywhere(authz.SchemaRead) || alice.CanAnywhere(authz.SchemaWrite) || aliceElsewhere.CanAnywhere(authz.SchemaRead) {
		t.Fatal("CanAnywhere: an organization role reads user types, does not write them, and stays in its instance")
	}

	remove := eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: "inst-1", Type: "org", ID: "org-a"}, ExpectedSequence: eventstore.AnySequence,
		Events: []eventstore.Payload{&OrgMemberRemoved{UserID: "alice"}}}
	if _, err := s.Push(ctx, eventstore.SystemEditor, remove); err != nil {
		t.Fatal(err)
	}
	alice, _ = LoadCaller(ctx, s.DB(), "inst-1", "alice")
	if alice.Can(authz.UserRead, authz.Org("org-a")) {
		t.Fatal("removed member keeps its permissions")
	}

	// Removing an organization or deleting a user ends their memberships.
	for _, a := range []eventstore.Append{
		mustMember(t, "org-b", "carol"), mustMember(t, "org-c", "dave"),
		{Aggregate: eventstore.Aggregate{InstanceID: "inst-1", Type: "org", ID: "org-b"}, ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&org.Removed{}}},
		{Aggregate: eventstore.Aggregate{InstanceID: "inst-1", Type: "user", ID: "dave"}, ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&user.Deleted{}}},
	} {
		if _, err := s.Push(ctx, eventstore.SystemEditor, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, who := range []string{"carol", "dave"} {
		if c, _ := LoadCaller(ctx, s.DB(), "inst-1", who); len(c.OrgRoles) != 0 {
			t.Fatalf("%s keeps roles %v", who, c.OrgRoles)
		}
	}
}

func mustMember(t *testing.T, orgID, userID string) eventstore.Append {
	t.Helper()
	return orgAppend("inst-1", orgID, &OrgMemberAdded{UserID: userID, Roles: []string{"org.viewer"}})
}

func TestScopedMemberships(t *testing.T) {
	ctx := context.Background()
	s := eventstoretest.New(t, "inst-1", func(r *eventstore.Registry) {
		RegisterEvents(r)
		instance.RegisterEvents(r)
		org.RegisterEvents(r)
		user.RegisterEvents(r)
		project.RegisterEvents(r)
		pat.RegisterEvents(r)
	}, append([]database.Migration(nil), Migrations...), Projection{})
	s.Given(t,
		orgAppend("inst-1", "owning", &ProjectMemberAdded{ProjectID: "p1", UserID: "pat", Roles: []string{"project.owner"}}),
		orgAppend("inst-1", "granted", &ProjectGrantMemberAdded{GrantID: "g1", UserID: "gus", Roles: []string{"custom.grant_helper"}}),
		eventstore.Append{Aggregate: roleAggregate("inst-1", "custom.grant_helper"), ExpectedSequence: eventstore.AnySequence,
			Events: []eventstore.Payload{&RoleDefined{Key: "custom.grant_helper", DisplayName: "Helper", Scope: "project_grant", Permissions: []string{"authorization.write"}}}},
	)
	pat, err := LoadCaller(ctx, s.DB(), "inst-1", "pat")
	if err != nil {
		t.Fatal(err)
	}
	if !pat.Can(authz.ProjectWrite, authz.Project("p1", "owning")) || pat.Can(authz.ProjectWrite, authz.Project("p2", "owning")) || pat.Can(authz.UserRead, authz.Org("owning")) {
		t.Fatalf("a project owner holds exactly its project: %+v", pat.Scoped)
	}
	gus, err := LoadCaller(ctx, s.DB(), "inst-1", "gus")
	if err != nil {
		t.Fatal(err)
	}
	if want := (authz.Membership{Scope: authz.ProjectGrant("g1", "granted"), Roles: []string{"custom.grant_helper"}}); len(gus.Scoped) != 1 || gus.Scoped[0].Scope != want.Scope {
		t.Fatalf("grant membership read back as %+v", gus.Scoped)
	}
	if !gus.Can(authz.AuthorizationWrite, authz.ProjectGrant("g1", "granted")) || gus.Can(authz.AuthorizationRead, authz.ProjectGrant("g1", "granted")) {
		t.Fatal("a custom grant role grants exactly its permissions")
	}
	// Removing an organization ends the memberships on its projects and on
	// the grants it received.
	for _, o := range []string{"owning", "granted"} {
		if _, err := s.Push(ctx, eventstore.SystemEditor, orgAppend("inst-1", o, &org.Removed{})); err != nil {
			t.Fatal(err)
		}
	}
	for _, who := range []string{"pat", "gus"} {
		if c, _ := LoadCaller(ctx, s.DB(), "inst-1", who); len(c.Scoped) != 0 {
			t.Fatalf("%s keeps %+v", who, c.Scoped)
		}
	}
}

func TestCallerVersionCountsEveryChangeOfACaller(t *testing.T) {
	ctx := context.Background()
	s := eventstoretest.New(t, "inst-1", func(r *eventstore.Registry) {
		RegisterEvents(r)
		instance.RegisterEvents(r)
		org.RegisterEvents(r)
		user.RegisterEvents(r)
		project.RegisterEvents(r)
		pat.RegisterEvents(r)
	}, append([]database.Migration(nil), Migrations...), Projection{})
	version := func() int64 {
		t.Helper()
		v, err := CallerVersion(ctx, s.DB(), "inst-1")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if version() != 0 {
		t.Fatal("a new instance has changed callers")
	}
	userAgg := eventstore.Aggregate{InstanceID: "inst-1", Type: user.AggregateType, ID: "u1"}
	last := int64(0)
	for _, a := range []eventstore.Append{
		orgAppend("inst-1", "o1", &OrgMemberAdded{UserID: "u1", Roles: []string{"org.viewer"}}),
		{Aggregate: userAgg, ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&user.Locked{}}},
		{Aggregate: userAgg, ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&pat.Removed{TokenID: "t1"}}},
		orgAppend("inst-1", "o1", &org.Deactivated{}),
	} {
		if _, err := s.Push(ctx, eventstore.SystemEditor, a); err != nil {
			t.Fatal(err)
		}
		if v := version(); v <= last {
			t.Fatalf("%s did not move the count (%d)", a.Events[0].EventType(), v)
		} else {
			last = v
		}
	}
	if v, _ := CallerVersion(ctx, s.DB(), "inst-2"); v != 0 {
		t.Fatal("another instance's count moved")
	}
	if _, err := s.Store.Rebuild(ctx, "members"); err != nil {
		t.Fatal(err)
	}
	if version() <= last {
		t.Fatal("a rebuild moved the count back, or left it where a cache would miss the rebuild")
	}
}
