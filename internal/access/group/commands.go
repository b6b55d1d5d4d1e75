package group

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

// Limits.
const (
	MaxMembers = 10000
	MaxDepth   = 5
	maxName    = 200
	uniqueName = "group_name"
)

// Commands change groups. Whether the caller may is decided before.
type Commands struct {
	store *eventstore.Store
}

// NewCommands returns the group commands.
func NewCommands(store *eventstore.Store) *Commands { return &Commands{store: store} }

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxName {
		return "", failure.InvalidArgument("name", "must be 1 to %d characters", maxName)
	}
	return name, nil
}

func aggregate(instanceID, orgID, groupID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: groupID, Owner: orgID}
}

// Create adds a group to an active organization.
func (c *Commands) Create(ctx context.Context, editor eventstore.Editor, instanceID, orgID, name string) (Group, error) {
	name, err := checkName(name)
	if err != nil {
		return Group{}, err
	}
	if err := org.RequireActive(ctx, c.store.DB(), instanceID, orgID); err != nil {
		return Group{}, err
	}
	g := Group{ID: id.New(), OrgID: orgID, Name: name}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, orgID, g.ID), ExpectedSequence: eventstore.NewAggregate,
		Events: []eventstore.Payload{&Added{Name: name}},
		Unique: []eventstore.Unique{{Kind: uniqueName, Scope: orgID, Value: name, Field: "name", FoldCase: true}}})
	if err != nil {
		return Group{}, err
	}
	g.CreatedAt = stored[0].CreatedAt.UTC().Truncate(time.Second)
	return g, nil
}

// Rename renames a group.
func (c *Commands) Rename(ctx context.Context, editor eventstore.Editor, instanceID, groupID, name string) error {
	name, err := checkName(name)
	if err != nil {
		return err
	}
	g, seq, err := get(ctx, c.store.DB(), instanceID, groupID)
	if err != nil {
		return err
	}
	if g.Name == name {
		return nil
	}
	return c.push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, g.OrgID, g.ID), ExpectedSequence: seq,
		Events: []eventstore.Payload{&Renamed{Name: name}},
		Unique: []eventstore.Unique{{Kind: uniqueName, Scope: g.OrgID, Value: g.Name, Remove: true, FoldCase: true},
			{Kind: uniqueName, Scope: g.OrgID, Value: name, Field: "name", FoldCase: true}}})
}

// Remove removes a group: it leaves the groups it was in, and its
// members and authorizations end with it.
func (c *Commands) Remove(ctx context.Context, editor eventstore.Editor, instanceID, groupID string) error {
	g, seq, err := get(ctx, c.store.DB(), instanceID, groupID)
	if err != nil {
		return err
	}
	appends := []eventstore.Append{{Aggregate: aggregate(instanceID, g.OrgID, g.ID), ExpectedSequence: seq,
		Events: []eventstore.Payload{&Removed{Name: g.Name}},
		Unique: []eventstore.Unique{{Kind: uniqueName, Scope: g.OrgID, Value: g.Name, Remove: true, FoldCase: true}}}}
	parents, err := parentsOf(ctx, c.store.DB(), instanceID, groupID)
	if err != nil {
		return err
	}
	for _, p := range parents {
		appends = append(appends, eventstore.Append{Aggregate: aggregate(instanceID, g.OrgID, p), ExpectedSequence: eventstore.AnySequence,
			Events: []eventstore.Payload{&MemberRemoved{GroupID: groupID}}})
	}
	return c.push(ctx, editor, appends...)
}

func (c *Commands) push(ctx context.Context, editor eventstore.Editor, appends ...eventstore.Append) error {
	_, err := c.store.Push(ctx, editor, appends...)
	return err
}

// AddMember adds a user (userID) or a group (memberGroupID) of the group's
// organization to a group. A member already in it is AlreadyExists; a
// group that would end inside itself, or nest deeper than MaxDepth, is
// refused.
func (c *Commands) AddMember(ctx context.Context, editor eventstore.Editor, instanceID, groupID, userID, memberGroupID string) error {
	if (userID == "") == (memberGroupID == "") {
		return failure.InvalidArgument("userId", "give a user or a group")
	}
	db := c.store.DB()
	g, seq, err := get(ctx, db, instanceID, groupID)
	if err != nil {
		return err
	}
	members, err := directMembers(ctx, db, instanceID, groupID)
	if err != nil {
		return err
	}
	if len(members) >= MaxMembers {
		return failure.FailedPrecondition("group %s has %d members, the most a group may have", groupID, MaxMembers)
	}
	if userID != "" {
		s, err := user.StandingOf(ctx, db, instanceID, userID)
		if err != nil || s.OrgID != g.OrgID {
			return failure.NotFound("user %s not found in organization %s", userID, g.OrgID)
		}
		if slices.Contains(members, Member{UserID: userID}) {
			return failure.AlreadyExists("user %s is already in group %s", userID, groupID)
		}
	} else {
		sub, _, err := get(ctx, db, instanceID, memberGroupID)
		if err != nil || sub.OrgID != g.OrgID {
			return failure.NotFound("group %s not found in organization %s", memberGroupID, g.OrgID)
		}
		if slices.Contains(members, Member{GroupID: memberGroupID}) {
			return failure.AlreadyExists("group %s is already in group %s", memberGroupID, groupID)
		}
		// memberGroupID must not contain groupID (a cycle), and the
		// nesting above groupID plus below memberGroupID must fit.
		below, err := depthBelow(ctx, db, instanceID, memberGroupID, groupID, 0)
		if err != nil {
			return err
		}
		above, err := depthAbove(ctx, db, instanceID, groupID, 0)
		if err != nil {
			return err
		}
		if above+1+below > MaxDepth {
			return failure.FailedPrecondition("groups nest at most %d levels deep", MaxDepth)
		}
	}
	return c.push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, g.OrgID, g.ID), ExpectedSequence: seq,
		Events: []eventstore.Payload{&MemberAdded{UserID: userID, GroupID: memberGroupID}}})
}

// RemoveMember takes a user or a group out of a group.
func (c *Commands) RemoveMember(ctx context.Context, editor eventstore.Editor, instanceID, groupID, userID, memberGroupID string) error {
	if (userID == "") == (memberGroupID == "") {
		return failure.InvalidArgument("userId", "give a user or a group")
	}
	g, seq, err := get(ctx, c.store.DB(), instanceID, groupID)
	if err != nil {
		return err
	}
	members, err := directMembers(ctx, c.store.DB(), instanceID, groupID)
	if err != nil {
		return err
	}
	if !slices.Contains(members, Member{UserID: userID, GroupID: memberGroupID}) {
		return failure.NotFound("not a member of group %s", groupID)
	}
	return c.push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, g.OrgID, g.ID), ExpectedSequence: seq,
		Events: []eventstore.Payload{&MemberRemoved{UserID: userID, GroupID: memberGroupID}}})
}

// depthBelow returns how many levels of groups hang below g (0 for none),
// failing when target is among them: adding g to target would close a
// cycle.
func depthBelow(ctx context.Context, db any, instanceID, g, target string, level int) (int, error) {
	if g == target {
		return 0, failure.FailedPrecondition("group %s is inside group %s already; a group cannot contain itself", target, g)
	}
	if level > MaxDepth {
		return level, nil
	}
	subs, err := subgroups(ctx, db, instanceID, g)
	if err != nil {
		return 0, err
	}
	deepest := 0
	for _, s := range subs {
		d, err := depthBelow(ctx, db, instanceID, s, target, level+1)
		if err != nil {
			return 0, err
		}
		deepest = max(deepest, d+1)
	}
	return deepest, nil
}

// depthAbove returns how many levels of groups g is nested in.
func depthAbove(ctx context.Context, db any, instanceID, g string, level int) (int, error) {
	if level > MaxDepth {
		return level, nil
	}
	parents, err := parentsOf(ctx, db, instanceID, g)
	if err != nil {
		return 0, err
	}
	deepest := 0
	for _, p := range parents {
		d, err := depthAbove(ctx, db, instanceID, p, level+1)
		if err != nil {
			return 0, err
		}
		deepest = max(deepest, d+1)
	}
	return deepest, nil
}
