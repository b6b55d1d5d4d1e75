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
