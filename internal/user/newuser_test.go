package user

import (
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

// TestNewUsersNeedAnActiveOrganization: the rule is the domain's, for
// create and import alike.
func TestNewUsersNeedAnActiveOrganization(t *testing.T) {
	f := setup(t)
	if _, err := f.Push(ctx, admin, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: inst, Type: org.AggregateType, ID: "o2", Owner: "o2"},
		ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&org.Deactivated{}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		orgID string
		kind  failure.Kind
		field string
	}{
		{"fail/no organization", "", failure.KindInvalidArgument, "organizationId"},
		{"fail/unknown organization", "o9", failure.KindInvalidArgument, "organizationId"},
		{"fail/deactivated organization", "o2", failure.KindFailedPrecondition, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := New{OrgID: tc.orgID, Type: "human", LoginName: "grace"}
			_, err := f.users.Create(ctx, admin, inst, n)
			if fe := wantKind(t, err, tc.kind); fe.Field != tc.field {
				t.Fatalf("create: field %q", fe.Field)
			}
			res, err := f.users.Import(ctx, admin, inst, []ImportUser{{New: n}}, ImportOptions{})
			if err != nil || len(res.Failed) != 1 || !failure.Is(res.Failed[0].Err, tc.kind) {
				t.Fatalf("import: %+v %v", res, err)
			}
		})
	}
}

// TestUsersFollowTheirOrganizationsState: the users read model keeps
// whether each user's organization is active, inline and after a rebuild.
func TestUsersFollowTheirOrganizationsState(t *testing.T) {
	f := setup(t)
	id := f.create(t, New{OrgID: "o1", Type: "human", LoginName: "ada", Password: "correct horse battery"})
	toggle := func(p eventstore.Payload) {
		t.Helper()
		if _, err := f.Push(ctx, admin, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: inst, Type: org.AggregateType, ID: "o1", Owner: "o1"},
			ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{p}}); err != nil {
			t.Fatal(err)
		}
	}
	active := func() bool {
		t.Helper()
		ok, err := Active(ctx, f.DB(), inst, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	toggle(&org.Deactivated{})
	if active() {
		t.Fatal("a user of a deactivated organization is active")
	}
	if _, err := f.Rebuild(ctx, Projection{}.Name()); err != nil {
		t.Fatal(err)
	}
	if active() {
		t.Fatal("after a rebuild, a user of a deactivated organization is active")
	}
	toggle(&org.Reactivated{})
	if !active() {
		t.Fatal("a user of a reactivated organization is not active")
	}
}
