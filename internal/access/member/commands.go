package member

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

// Projects is what member needs to know of projects and project grants,
// which package project owns; internal/app wires it.
type Projects struct {
	// OwnerOf returns the organization owning a project; a missing project
	// is failure.NotFound.
	OwnerOf func(ctx context.Context, instanceID, projectID string) (orgID string, err error)
	// GrantOrg returns a project grant's project and the organization it
	// was granted to; a missing grant is failure.NotFound.
	GrantOrg func(ctx context.Context, instanceID, grantID string) (projectID, grantedOrgID string, err error)
}

// Commands change memberships and custom roles.
//
// Its own methods act for the system (first start, the organization a
// registration creates, tests) and apply no permission rule. The API acts
// through By(caller), whose methods apply every rule of an administrator
// acting on administrators (admin.go).
type Commands struct {
	store    *eventstore.Store
	projects Projects
}

// NewCommands returns the member commands.
func NewCommands(store *eventstore.Store) *Commands { return &Commands{store: store} }

// WithProjects returns c answering questions about projects through p.
func (c *Commands) WithProjects(p Projects) *Commands {
	cp := *c
	cp.projects = p
	return &cp
}

func (c *Commands) db() *database.DB { return c.store.DB() }

// requireUser refuses a user the instance does not have.
func (c *Commands) requireUser(ctx context.Context, instanceID, userID string) error {
	if userID == "" {
		return failure.InvalidArgument("userId", "required")
	}
	ok, err := user.Exists(ctx, c.db(), instanceID, userID)
	if err != nil {
		return err
	}
	if !ok {
		return failure.NotFound("user %s not found", userID)
	}
	return nil
}

func (c *Commands) validRoles(ctx context.Context, instanceID string, kind authz.ScopeKind, roles []string) (authz.RoleBook, error) {
	book, err := RoleBookOf(ctx, c.db(), instanceID)
	if err != nil {
		return book, err
	}
	return book, book.Validate(kind, roles)
}

// SetInstanceMember gives userID exactly roles on the instance. Taking
// instance.owner from the last (active) owner is refused.
func (c *Commands) SetInstanceMember(ctx context.Context, editor eventstore.Editor, instanceID, userID string, roles []string) error {
	if _, err := c.validRoles(ctx, instanceID, authz.ScopeInstance, roles); err != nil {
		return err
	}
	if err := c.requireUser(ctx, instanceID, userID); err != nil {
		return err
	}
	return c.instanceMemberChange(ctx, editor, instanceID, userID, !slices.Contains(roles, authz.InstanceOwner),
		&instance.MemberAdded{UserID: userID, Roles: roles})
}

// RemoveInstanceMember takes userID's instance roles. Removing the last
// (active) owner is refused; a user without instance roles is NotFound.
func (c *Commands) RemoveInstanceMember(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
	if userID == "" {
		return failure.InvalidArgument("userId", "required")
	}
	return c.instanceMemberChange(ctx, editor, instanceID, userID, true, &instance.MemberRemoved{UserID: userID})
}

func (c *Commands) instanceMemberChange(ctx context.Context, editor eventstore.Editor, instanceID, userID string, losesOwner bool, e eventstore.Payload) error {
	seq, err := instance.Sequence(ctx, c.db(), instanceID)
	if err != nil {
		return err
	}
	return c.instanceMemberChangeAt(ctx, editor, instanceID, userID, losesOwner, e, seq)
}

// instanceMemberChangeAt is instanceMemberChange expecting the instance at
// sequence seq, read before the decision to change.
func (c *Commands) instanceMemberChangeAt(ctx context.Context, editor eventstore.Editor, instanceID, userID string, losesOwner bool, e eventstore.Payload, seq int64) error {
	members, err := List(ctx, c.db(), instanceID, authz.InstanceScope(instanceID))
	if err != nil {
		return err
	}
	isMember, isOwner := false, false
	others := 0
	for _, m := range members {
		owner := slices.Contains(m.Roles, authz.InstanceOwner)
		if m.UserID == userID {
			isMember, isOwner = true, owner
		} else if owner {
			others++
		}
	}
	if _, removing := e.(*instance.MemberRemoved); removing && !isMember {
		return failure.NotFound("user %s is not an instance member", userID)
	}
	if losesOwner && isOwner {
		if others == 0 {
			return failure.FailedPrecondition("user %s is the last instance owner", userID)
		}
		if err := ownerRemains(ctx, c.db(), instanceID, members, Leaving{UserID: userID}); err != nil {
			return err
		}
	}
	// The instance's sequence makes two concurrent changes conflict, so two
	// owners cannot remove each other at once.
	_, err = c.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        instanceAggregate(instanceID),
		ExpectedSequence: seq,
		Events:           []eventstore.Payload{e},
	})
	return err
}

// AddOrgMember gives userID exactly roles on orgID.
func (c *Commands) AddOrgMember(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID string, roles []string) error {
	if _, err := c.validRoles(ctx, instanceID, authz.ScopeOrg, roles); err != nil {
		return err
	}
	if _, err := org.StateOf(ctx, c.db(), instanceID, orgID); err != nil {
		return err
	}
	if err := c.requireUser(ctx, instanceID, userID); err != nil {
		return err
	}
	_, err := c.store.Push(ctx, editor, orgAppend(instanceID, orgID, &OrgMemberAdded{UserID: userID, Roles: roles}))
	return err
}

// RemoveOrgMember takes userID's roles on orgID; a user without roles
// there is NotFound.
func (c *Commands) RemoveOrgMember(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID string) error {
	if userID == "" {
		return failure.InvalidArgument("userId", "required")
	}
	roles, err := rolesOf(ctx, c.db(), instanceID, authz.Org(orgID), userID)
	if err != nil {
		return err
	}
	if roles == nil {
		return failure.NotFound("user %s is not a member of organization %s", userID, orgID)
	}
	_, err = c.store.Push(ctx, editor, orgAppend(instanceID, orgID, &OrgMemberRemoved{UserID: userID}))
	return err
}

// ProjectScope is the scope of a project, with its owning organization.
func (c *Commands) ProjectScope(ctx context.Context, instanceID, projectID string) (authz.Scope, error) {
	if projectID == "" {
		return authz.Scope{}, failure.InvalidArgument("projectId", "required")
	}
	if c.projects.OwnerOf == nil {
		return authz.Scope{}, failure.FailedPrecondition("projects are not available on this server")
	}
	orgID, err := c.projects.OwnerOf(ctx, instanceID, projectID)
	if err != nil {
		return authz.Scope{}, err
	}
	return authz.Project(projectID, orgID), nil
}

// GrantScope is the scope of a project grant, with the organization it
// was granted to.
func (c *Commands) GrantScope(ctx context.Context, instanceID, grantID string) (authz.Scope, error) {
	if grantID == "" {
		return authz.Scope{}, failure.InvalidArgument("grantId", "required")
	}
	if c.projects.GrantOrg == nil {
		return authz.Scope{}, failure.FailedPrecondition("project grants are not available on this server")
	}
	_, orgID, err := c.projects.GrantOrg(ctx, instanceID, grantID)
	if err != nil {
		return authz.Scope{}, err
	}
	return authz.ProjectGrant(grantID, orgID), nil
}

// scopedAppend is the append recording a change of a membership on s: on
// the instance's aggregate, or on an organization's — the organization
// itself, the owner of a project, the receiver of a project grant.
func scopedAppend(instanceID string, s authz.Scope, userID string, roles []string) eventstore.Append {
	var e eventstore.Payload
	switch s.Kind {
	case authz.ScopeInstance:
		if roles == nil {
			e = &instance.MemberRemoved{UserID: userID}
		} else {
			e = &instance.MemberAdded{UserID: userID, Roles: roles}
		}
		return eventstore.Append{Aggregate: instanceAggregate(instanceID), ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{e}}
	case authz.ScopeOrg:
		if roles == nil {
			e = &OrgMemberRemoved{UserID: userID}
		} else {
			e = &OrgMemberAdded{UserID: userID, Roles: roles}
		}
		return orgAppend(instanceID, s.ID, e)
	case authz.ScopeProject:
		if roles == nil {
			e = &ProjectMemberRemoved{ProjectID: s.ID, UserID: userID}
		} else {
			e = &ProjectMemberAdded{ProjectID: s.ID, UserID: userID, Roles: roles}
		}
		return orgAppend(instanceID, s.Org, e)
	}
	if roles == nil {
		e = &ProjectGrantMemberRemoved{GrantID: s.ID, UserID: userID}
	} else {
		e = &ProjectGrantMemberAdded{GrantID: s.ID, UserID: userID, Roles: roles}
	}
	return orgAppend(instanceID, s.Org, e)
}

func instanceAggregate(instanceID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: instance.AggregateType, ID: instanceID}
}

func orgAppend(instanceID, orgID string, e eventstore.Payload) eventstore.Append {
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: org.AggregateType, ID: orgID, Owner: orgID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{e},
	}
}
