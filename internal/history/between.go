package history

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// What changed between two moments. One mechanism for every object the
// time travel covers: the object's state at each moment, from the same
// question that answers "as it was then" (OrgAt, ProjectAt, …), compared
// by Diff. Adding an object to the diffs is one line naming its question.

// CheckMoments validates two moments of a diff: both set, from not after
// to.
func CheckMoments(from, to time.Time) error {
	switch {
	case from.IsZero():
		return failure.InvalidArgument("from", "required")
	case to.IsZero():
		return failure.InvalidArgument("to", "required")
	case to.Before(from):
		return failure.InvalidArgument("to", "must not be before from (%s)", from.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Between returns what changed in an object from one moment to another:
// its state at each, read by at, compared by Diff (hide names the fields
// never shown). An object that did not exist at a moment (at fails with
// failure.NotFound) is absent there, and the diff shows it appear or
// vanish as one change of the whole; one that existed at neither moment
// is NotFound.
func Between[T any](ctx context.Context, from, to time.Time, hide func(string) bool, at func(context.Context, time.Time) (T, error)) ([]Change, error) {
	if err := CheckMoments(from, to); err != nil {
		return nil, err
	}
	var states [2]any
	var missing error
	for i, t := range []time.Time{from, to} {
		s, err := at(ctx, t)
		switch {
		case failure.Is(err, failure.KindNotFound):
			missing = err
		case err != nil:
			return nil, err
		default:
			states[i] = s
		}
	}
	if states[0] == nil && states[1] == nil {
		return nil, missing
	}
	return Diff(states[0], states[1], hide)
}

// DiffUser is what changed in a user (as UserAt reads it).
func (r *Replayer) DiffUser(ctx context.Context, instanceID, userID string, from, to time.Time, hide func(string) bool) ([]Change, error) {
	return Between(ctx, from, to, hide, func(ctx context.Context, t time.Time) (user.User, error) {
		u, _, err := r.UserAt(ctx, instanceID, userID, t)
		return u, err
	})
}

// DiffOrg is what changed in an organization: its name, state, domains
// (by name), metadata (by key) and domain policy.
func (r *Replayer) DiffOrg(ctx context.Context, instanceID, orgID string, from, to time.Time, hide func(string) bool) ([]Change, error) {
	return Between(ctx, from, to, hide, func(ctx context.Context, t time.Time) (org.Org, error) {
		return r.OrgAt(ctx, instanceID, orgID, t)
	})
}

// DiffUserType is what changed in a user type: its name, state, revision
// and schema document.
func (r *Replayer) DiffUserType(ctx context.Context, instanceID, typeID string, from, to time.Time, hide func(string) bool) ([]Change, error) {
	return Between(ctx, from, to, hide, func(ctx context.Context, t time.Time) (usertype.Type, error) {
		return r.UserTypeAt(ctx, instanceID, typeID, t)
	})
}

// DiffProject is what changed in a project: its name, settings, roles (by
// key), grants and applications (by id), never their secrets.
func (r *Replayer) DiffProject(ctx context.Context, instanceID, projectID string, from, to time.Time, hide func(string) bool) ([]Change, error) {
	return Between(ctx, from, to, hide, func(ctx context.Context, t time.Time) (Project, error) {
		return r.ProjectAt(ctx, instanceID, projectID, t)
	})
}

// DiffAuthorizations is what changed in a user's authorizations, its own
// and its groups' (by id): those added, removed, and their roles.
func (r *Replayer) DiffAuthorizations(ctx context.Context, instanceID, userID string, from, to time.Time, hide func(string) bool) ([]Change, error) {
	return Between(ctx, from, to, hide, func(ctx context.Context, t time.Time) ([]project.Authorization, error) {
		list, _, err := r.AuthorizationsAt(ctx, instanceID, userID, t)
		return list, err
	})
}

// MembershipState is a membership as a diff names it: by its scope.
type MembershipState struct {
	// ID is the scope's kind and id ("org:3c1f…").
	ID             string
	Scope          authz.ScopeKind
	ScopeID        string
	OrganizationID string
	Roles          []string
}

// MembershipStates names memberships by their scopes.
func MembershipStates(ms []authz.Membership) []MembershipState {
	out := make([]MembershipState, 0, len(ms))
	for _, m := range ms {
		out = append(out, MembershipState{ID: string(m.Scope.Kind) + ":" + m.Scope.ID, Scope: m.Scope.Kind, ScopeID: m.Scope.ID,
			OrganizationID: m.Scope.Org, Roles: m.Roles})
	}
	return out
}

// DiffMemberships is what changed in the administrator roles a user held,
// by scope, in the scopes may allows.
func (r *Replayer) DiffMemberships(ctx context.Context, instanceID, userID string, from, to time.Time, may func(authz.Scope) bool, hide func(string) bool) ([]Change, error) {
	return Between(ctx, from, to, hide, func(ctx context.Context, t time.Time) ([]MembershipState, error) {
		ms, err := r.MembershipsAt(ctx, instanceID, userID, t, may)
		return MembershipStates(ms), err
	})
}
