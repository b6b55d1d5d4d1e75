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

// Commands change memberships.
type Commands struct {
	store *eventstore.Store
}

// NewCommands returns the member commands.
func NewCommands(store *eventstore.Store) *Commands { return &Commands{store: store} }

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

// SetInstanceMember gives userID exactly roles on the instance. Taking
// instance.owner from the last (active) owner is refused.
func (c *Commands) SetInstanceMember(ctx context.Context, editor eventstore.Editor, instanceID, userID string, roles []string) error {
	if bad := authz.ValidRoles(authz.ScopeInstance, roles); bad != "" {
		return failure.InvalidArgument("roles", "%q is not an instance role", bad)
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
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: instance.AggregateType, ID: instanceID},
		ExpectedSequence: seq,
		Events:           []eventstore.Payload{e},
	})
	return err
}

// AddOrgMember gives userID exactly roles on orgID.
func (c *Commands) AddOrgMember(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID string, roles []string) error {
	if bad := authz.ValidRoles(authz.ScopeOrg, roles); bad != "" {
		return failure.InvalidArgument("roles", "%q is not an organization role", bad)
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
	members, err := List(ctx, c.db(), instanceID, authz.Org(orgID))
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(members, func(m Member) bool { return m.UserID == userID }) {
		return failure.NotFound("user %s is not a member of organization %s", userID, orgID)
	}
	_, err = c.store.Push(ctx, editor, orgAppend(instanceID, orgID, &OrgMemberRemoved{UserID: userID}))
	return err
}

func orgAppend(instanceID, orgID string, e eventstore.Payload) eventstore.Append {
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: org.AggregateType, ID: orgID, Owner: orgID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{e},
	}
}
