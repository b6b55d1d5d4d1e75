package member

import (
	"context"
	"fmt"
	"slices"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

// Administrator is the member commands acting for an authenticated
// caller. Every change passes the rules of an administrator acting on
// administrators, whatever the scope:
//
//   - the caller holds member.write on the scope (role.write on the
//     instance for custom roles);
//   - it holds, on that scope, every permission of the roles it gives and
//     of the roles it takes away (a user manager with member.write cannot
//     give org.owner, nor take it);
//   - it covers (authz.Caller.Covers) the user whose memberships it
//     changes: nobody changes the roles of an account that holds more than
//     they do, anywhere;
//   - a custom role is defined, changed or removed only by a caller
//     holding every permission it carries (before and after) on the
//     instance, since the change reaches every scope the role is held on.
type Administrator struct {
	c      *Commands
	caller authz.Caller
}

// By returns the commands acting for caller.
func (c *Commands) By(caller authz.Caller) Administrator { return Administrator{c: c, caller: caller} }

// guard applies the rules to a change of userID's roles on s to roles
// (nil: removed); it returns the roles held before (nil: none). Its
// callers read the sequence of the aggregate they append to before it, and
// push with it: if the memberships changed while the rules were checked
// (the user was given a role the caller lacks), the push is a Conflict,
// not a change the rules never saw. (On the instance, the instance's
// sequence does the same.)
func (a Administrator) guard(ctx context.Context, book authz.RoleBook, s authz.Scope, userID string, roles []string) ([]string, error) {
	inst := a.caller.InstanceID
	if err := a.caller.Require(authz.MemberWrite, s); err != nil {
		return nil, err
	}
	lookup := s
	if s.Kind == authz.ScopeInstance {
		lookup = authz.InstanceScope(inst)
	}
	old, err := rolesOf(ctx, a.c.db(), inst, lookup, userID)
	if err != nil {
		return nil, err
	}
	need := book.Permissions(roles) | book.Permissions(old)
	if err := a.caller.RequireAll(need, s, fmt.Sprintf("changing the roles of user %s", userID)); err != nil {
		return nil, err
	}
	target, err := loadCaller(ctx, a.c.db(), book, inst, userID)
	if err != nil {
		return nil, err
	}
	if !a.caller.Covers(target) {
		return nil, failure.PermissionDenied("user %s holds permissions you do not hold; only an administrator holding all of them may change its memberships", userID)
	}
	return old, nil
}

// expecting returns change expecting its aggregate at the sequence it has
// now (the instance's from its read model, as Commands does).
func (a Administrator) expecting(ctx context.Context, change eventstore.Append) (eventstore.Append, error) {
	var err error
	if change.Type == instance.AggregateType {
		change.ExpectedSequence, err = instance.Sequence(ctx, a.c.db(), change.InstanceID)
	} else {
		change.ExpectedSequence, err = a.c.store.Sequence(ctx, change.Aggregate)
	}
	return change, err
}

// set gives userID exactly roles on s, after validating them and guarding
// the change; for the instance it keeps the rules of the last owner.
func (a Administrator) set(ctx context.Context, s authz.Scope, userID string, roles []string) error {
	inst := a.caller.InstanceID
	book, err := a.c.validRoles(ctx, inst, s.Kind, roles)
	if err != nil {
		return err
	}
	if s.Kind == authz.ScopeOrg {
		if _, err := org.StateOf(ctx, a.c.db(), inst, s.ID); err != nil {
			return err
		}
	}
	if err := a.c.requireUser(ctx, inst, userID); err != nil {
		return err
	}
	change, err := a.expecting(ctx, scopedAppend(inst, s, userID, roles))
	if err != nil {
		return err
	}
	if _, err := a.guard(ctx, book, s, userID, roles); err != nil {
		return err
	}
	switch s.Kind {
	case authz.ScopeInstance:
		return a.c.instanceMemberChangeAt(ctx, a.caller.Editor(), inst, userID, !slices.Contains(roles, authz.InstanceOwner), change.Events[0], change.ExpectedSequence)
	case authz.ScopeProjectGrant:
		// A grant's administrators are users of the organization that
		// received it: the granting organization learns nothing of them.
		st, err := user.StandingOf(ctx, a.c.db(), inst, userID)
		if err != nil {
			return err
		}
		if st.OrgID != s.Org {
			return failure.FailedPrecondition("user %s is not a user of organization %s, which received project grant %s", userID, s.Org, s.ID)
		}
	}
	_, err = a.c.store.Push(ctx, a.caller.Editor(), change)
	return err
}

// remove takes every role of userID on s; a user without roles there is
// NotFound.
func (a Administrator) remove(ctx context.Context, s authz.Scope, userID string) error {
	inst := a.caller.InstanceID
	if userID == "" {
		return failure.InvalidArgument("userId", "required")
	}
	book, err := RoleBookOf(ctx, a.c.db(), inst)
	if err != nil {
		return err
	}
	change, err := a.expecting(ctx, scopedAppend(inst, s, userID, nil))
	if err != nil {
		return err
	}
	old, err := a.guard(ctx, book, s, userID, nil)
	if err != nil {
		return err
	}
	if s.Kind == authz.ScopeInstance {
		return a.c.instanceMemberChangeAt(ctx, a.caller.Editor(), inst, userID, true, change.Events[0], change.ExpectedSequence)
	}
	if old == nil {
		return failure.NotFound("user %s is not a member of %s", userID, s)
	}
	_, err = a.c.store.Push(ctx, a.caller.Editor(), change)
	return err
}

// SetInstanceMember gives userID exactly roles on the instance.
func (a Administrator) SetInstanceMember(ctx context.Context, userID string, roles []string) error {
	return a.set(ctx, authz.Instance(), userID, roles)
}

// RemoveInstanceMember takes userID's instance roles.
func (a Administrator) RemoveInstanceMember(ctx context.Context, userID string) error {
	return a.remove(ctx, authz.Instance(), userID)
}

// AddOrgMember gives userID exactly roles on orgID.
func (a Administrator) AddOrgMember(ctx context.Context, orgID, userID string, roles []string) error {
	if orgID == "" {
		return failure.InvalidArgument("organizationId", "required")
	}
	return a.set(ctx, authz.Org(orgID), userID, roles)
}

// RemoveOrgMember takes userID's roles on orgID.
func (a Administrator) RemoveOrgMember(ctx context.Context, orgID, userID string) error {
	if orgID == "" {
		return failure.InvalidArgument("organizationId", "required")
	}
	return a.remove(ctx, authz.Org(orgID), userID)
}

// SetScopedMember gives userID exactly roles on a project or project
// grant scope (Commands.ProjectScope, Commands.GrantScope).
func (a Administrator) SetScopedMember(ctx context.Context, s authz.Scope, userID string, roles []string) error {
	if s.Kind != authz.ScopeProject && s.Kind != authz.ScopeProjectGrant {
		return failure.Internal(nil, "SetScopedMember on %s", s)
	}
	return a.set(ctx, s, userID, roles)
}

// RemoveScopedMember takes userID's roles on a project or project grant.
func (a Administrator) RemoveScopedMember(ctx context.Context, s authz.Scope, userID string) error {
	if s.Kind != authz.ScopeProject && s.Kind != authz.ScopeProjectGrant {
		return failure.Internal(nil, "RemoveScopedMember on %s", s)
	}
	return a.remove(ctx, s, userID)
}

// DefineRole adds a custom role to the instance.
func (a Administrator) DefineRole(ctx context.Context, key, displayName string, kind authz.ScopeKind, permissions []string) (authz.Role, error) {
	inst := a.caller.InstanceID
	if err := a.caller.Require(authz.RoleWrite, authz.Instance()); err != nil {
		return authz.Role{}, err
	}
	set, err := authz.ValidateCustom(key, displayName, kind, permissions)
	if err != nil {
		return authz.Role{}, err
	}
	if err := a.caller.RequireAll(set, authz.Instance(), "defining role "+key); err != nil {
		return authz.Role{}, err
	}
	_, err = a.c.store.Push(ctx, a.caller.Editor(), eventstore.Append{
		Aggregate:        roleAggregate(inst, key),
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&RoleDefined{Key: key, DisplayName: displayName, Scope: string(kind), Permissions: set.Strings()}},
		Unique:           []eventstore.Unique{{Kind: "custom_role", Value: key, Field: "key"}},
	})
	if err != nil {
		return authz.Role{}, err
	}
	return authz.Role{Key: key, DisplayName: displayName, Kind: kind, Permissions: set, Custom: true}, nil
}

// ChangeRole replaces a custom role's display name and permissions; every
// membership holding it holds the new permissions from then on.
func (a Administrator) ChangeRole(ctx context.Context, key, displayName string, permissions []string) (authz.Role, error) {
	inst := a.caller.InstanceID
	if err := a.caller.Require(authz.RoleWrite, authz.Instance()); err != nil {
		return authz.Role{}, err
	}
	old, err := customRole(ctx, a.c.db(), inst, key)
	if err != nil {
		return authz.Role{}, err
	}
	set, err := authz.ValidateCustom(key, displayName, old.Kind, permissions)
	if err != nil {
		return authz.Role{}, err
	}
	if err := a.caller.RequireAll(set|old.Permissions, authz.Instance(), "changing role "+key); err != nil {
		return authz.Role{}, err
	}
	_, err = a.c.store.Push(ctx, a.caller.Editor(), eventstore.Append{
		Aggregate:        roleAggregate(inst, key),
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&RoleChanged{DisplayName: displayName, Permissions: set.Strings()}},
	})
	if err != nil {
		return authz.Role{}, err
	}
	return authz.Role{Key: key, DisplayName: displayName, Kind: old.Kind, Permissions: set, Custom: true}, nil
}

// RemoveRole removes a custom role and, in the same push, takes it from
// every membership holding it (a membership left without roles is
// removed). Its key stays claimed: a membership given the role while it
// was being removed keeps naming a role that grants nothing, and must not
// come to mean a later role of the same key.
func (a Administrator) RemoveRole(ctx context.Context, key string) error {
	inst := a.caller.InstanceID
	if err := a.caller.Require(authz.RoleWrite, authz.Instance()); err != nil {
		return err
	}
	old, err := customRole(ctx, a.c.db(), inst, key)
	if err != nil {
		return err
	}
	if err := a.caller.RequireAll(old.Permissions, authz.Instance(), "removing role "+key); err != nil {
		return err
	}
	holders, err := holdersOf(ctx, a.c.db(), inst, key)
	if err != nil {
		return err
	}
	appends := []eventstore.Append{{
		Aggregate:        roleAggregate(inst, key),
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&RoleRemoved{}},
	}}
	for _, h := range holders {
		rest := slices.DeleteFunc(slices.Clone(h.Roles), func(r string) bool { return r == key })
		if len(rest) == 0 {
			rest = nil
		}
		appends = append(appends, scopedAppend(inst, h.Scope, h.UserID, rest))
	}
	_, err = a.c.store.Push(ctx, a.caller.Editor(), appends...)
	return err
}

func roleAggregate(instanceID, key string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: RoleAggregateType, ID: key}
}
