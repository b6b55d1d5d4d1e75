package project

import (
	"context"
	"slices"
	"time"

	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

const (
	uniqueGrant         = "project_grant"
	uniqueAuthorization = "authorization"
)

// Commands change the roles, settings, grants and authorizations of
// projects. Whether the caller may is decided before (package
// projectapi), on the scope Scope names.
type Commands struct {
	store *eventstore.Store
}

// NewCommands returns the commands.
func NewCommands(store *eventstore.Store) *Commands { return &Commands{store: store} }

func (c *Commands) push(ctx context.Context, editor eventstore.Editor, appends ...eventstore.Append) error {
	_, err := c.store.Push(ctx, editor, appends...)
	return err
}

// AddRole adds a role to a project; a key it already has is
// AlreadyExists.
func (c *Commands) AddRole(ctx context.Context, editor eventstore.Editor, instanceID, projectID string, r Role) error {
	r, err := checkRole(r)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return err
	}
	if _, ok := m.Roles[r.Key]; ok {
		return failure.AlreadyExists("project %s already has role %q", projectID, r.Key)
	}
	if len(m.Roles) >= maxRoles {
		return failure.FailedPrecondition("project %s has %d roles, the most a project may have", projectID, maxRoles)
	}
	return c.push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&RoleAdded{Key: r.Key, DisplayName: r.DisplayName, Group: r.Group}}})
}

// ChangeRole changes a role's display name and group.
func (c *Commands) ChangeRole(ctx context.Context, editor eventstore.Editor, instanceID, projectID string, r Role) error {
	r, err := checkRole(r)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return err
	}
	if _, ok := m.Roles[r.Key]; !ok {
		return failure.NotFound("project %s has no role %q", projectID, r.Key)
	}
	return c.push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&RoleChanged{Key: r.Key, DisplayName: r.DisplayName, Group: r.Group}}})
}

// RemoveRole removes a role from a project, every grant of it and every
// authorization holding it, in one push: each change is an event on its
// aggregate.
func (c *Commands) RemoveRole(ctx context.Context, editor eventstore.Editor, instanceID, projectID, key string) error {
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return err
	}
	if _, ok := m.Roles[key]; !ok {
		return failure.NotFound("project %s has no role %.100q", projectID, key)
	}
	gone := func(k string) bool { return k == key }
	events := []eventstore.Payload{&RoleRemoved{Key: key}}
	for _, g := range sortedGrants(m) {
		if roles, changed := without(g.Roles, gone); changed {
			events = append(events, &GrantChanged{GrantID: g.ID, Roles: roles})
		}
	}
	cascade, err := c.cascade(ctx, instanceID, projectID, nil, gone)
	if err != nil {
		return err
	}
	return c.push(ctx, editor, append([]eventstore.Append{{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence, Events: events}}, cascade...)...)
}

// SetSettings sets a project's access settings.
func (c *Commands) SetSettings(ctx context.Context, editor eventstore.Editor, instanceID, projectID string, s Settings) error {
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return err
	}
	if m.Settings == s {
		return nil
	}
	return c.push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&SettingsSet{Settings: s}}})
}

func sortedGrants(m *writeModel) []*Grant {
	out := make([]*Grant, 0, len(m.Grants))
	for _, g := range m.Grants {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *Grant) int { return compare(a.ID, b.ID) })
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AddGrant delegates roles of a project to another active organization;
// a project is granted to an organization once.
func (c *Commands) AddGrant(ctx context.Context, editor eventstore.Editor, instanceID, projectID, grantedOrgID string, roles []string) (Grant, error) {
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return Grant{}, err
	}
	if grantedOrgID == "" {
		return Grant{}, failure.InvalidArgument("grantedOrganizationId", "required")
	}
	if grantedOrgID == m.OrgID {
		return Grant{}, failure.InvalidArgument("grantedOrganizationId", "the project belongs to organization %s; grant it to another organization", m.OrgID)
	}
	if err := org.RequireActive(ctx, c.store.DB(), instanceID, grantedOrgID); err != nil {
		return Grant{}, err
	}
	roles, err = checkRoleKeys("roles", roles, func(k string) bool { _, ok := m.Roles[k]; return ok }, "the project")
	if err != nil {
		return Grant{}, err
	}
	g := Grant{ID: id.New(), ProjectID: projectID, OwnerOrgID: m.OrgID, GrantedOrgID: grantedOrgID, Roles: roles}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&GrantAdded{GrantID: g.ID, GrantedOrgID: grantedOrgID, Roles: roles}},
		Unique: []eventstore.Unique{{Kind: uniqueGrant, Scope: projectID, Value: grantedOrgID, Field: "grantedOrganizationId"}}})
	if err != nil {
		return Grant{}, err
	}
	g.CreatedAt = stored[0].CreatedAt.UTC().Truncate(time.Second)
	return g, nil
}

// ChangeGrant replaces the roles of a grant; the roles it loses are taken
// from every authorization under it, in the same push.
func (c *Commands) ChangeGrant(ctx context.Context, editor eventstore.Editor, instanceID, projectID, grantID string, roles []string) error {
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return err
	}
	g := m.Grants[grantID]
	if g == nil {
		return failure.NotFound("project grant %.64q not found", grantID)
	}
	roles, err = checkRoleKeys("roles", roles, func(k string) bool { _, ok := m.Roles[k]; return ok }, "the project")
	if err != nil {
		return err
	}
	if slices.Equal(roles, g.Roles) {
		return nil
	}
	gone := func(k string) bool { return !slices.Contains(roles, k) }
	cascade, err := c.cascade(ctx, instanceID, projectID, &grantID, gone)
	if err != nil {
		return err
	}
	return c.push(ctx, editor, append([]eventstore.Append{{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&GrantChanged{GrantID: grantID, Roles: roles}}}}, cascade...)...)
}

// RemoveGrant revokes a grant and removes every authorization under it,
// in one push.
func (c *Commands) RemoveGrant(ctx context.Context, editor eventstore.Editor, instanceID, projectID, grantID string) error {
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return err
	}
	g := m.Grants[grantID]
	if g == nil {
		return failure.NotFound("project grant %.64q not found", grantID)
	}
	under, err := listAuthorizations(ctx, c.store.DB(), instanceID, AuthorizationFilter{ProjectID: projectID, GrantID: &grantID}, maxCascade+1)
	if err != nil {
		return err
	}
	if len(under) > maxCascade {
		return failure.FailedPrecondition("more than %d authorizations hold roles of grant %s; remove some first", maxCascade, grantID)
	}
	appends := []eventstore.Append{{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&GrantRemoved{GrantID: grantID}},
		Unique: []eventstore.Unique{{Kind: uniqueGrant, Scope: projectID, Value: g.GrantedOrgID, Remove: true}}}}
	for _, a := range under {
		appends = append(appends, removal(instanceID, a))
	}
	return c.push(ctx, editor, appends...)
}

// cascade takes the roles gone reports from every authorization of a
// project (under grant *grantID only, when grantID is not nil).
func (c *Commands) cascade(ctx context.Context, instanceID, projectID string, grantID *string, gone func(string) bool) ([]eventstore.Append, error) {
	list, err := listAuthorizations(ctx, c.store.DB(), instanceID, AuthorizationFilter{ProjectID: projectID, GrantID: grantID}, 0)
	if err != nil {
		return nil, err
	}
	var out []eventstore.Append
	for _, a := range list {
		if roles, changed := without(a.Roles, gone); changed {
			if len(out) == maxCascade {
				return nil, failure.FailedPrecondition("the change would rewrite more than %d authorizations; remove the roles from some first", maxCascade)
			}
			out = append(out, eventstore.Append{Aggregate: authorizationAggregate(instanceID, a.ID, a.OrgID), ExpectedSequence: a.sequence,
				Events: []eventstore.Payload{&AuthorizationChanged{Roles: roles}}})
		}
	}
	return out, nil
}

func authorizationAggregate(instanceID, authorizationID, orgID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AuthorizationAggregate, ID: authorizationID, Owner: orgID}
}

func removal(instanceID string, a Authorization) eventstore.Append {
	return eventstore.Append{Aggregate: authorizationAggregate(instanceID, a.ID, a.OrgID), ExpectedSequence: a.sequence,
		Events: []eventstore.Payload{&AuthorizationRemoved{}},
		Unique: []eventstore.Unique{{Kind: uniqueAuthorization, Scope: a.ProjectID, Value: a.Subject().unique(), Remove: true}}}
}

// AddAuthorization authorizes a user or a group for a project. Without
// grantID the subject belongs to the project's organization and holds
// roles of the project; with one, it belongs to the grant's organization
// and holds roles of the grant. A subject has one authorization per
// project.
func (c *Commands) AddAuthorization(ctx context.Context, editor eventstore.Editor, instanceID string, subject Subject, projectID, grantID string, roles []string) (Authorization, error) {
	m, err := load(ctx, c.store, instanceID, projectID)
	if err != nil {
		return Authorization{}, err
	}
	managing, allowed, what, err := m.authorizationTarget(grantID)
	if err != nil {
		return Authorization{}, err
	}
	switch {
	case (subject.UserID == "") == (subject.GroupID == ""):
		return Authorization{}, failure.InvalidArgument("userId", "give a user or a group")
	case subject.UserID != "":
		s, err := user.StandingOf(ctx, c.store.DB(), instanceID, subject.UserID)
		if err != nil && !failure.Is(err, failure.KindNotFound) {
			return Authorization{}, err
		}
		if err != nil || s.OrgID != managing {
			// The same answer as a user that does not exist: the caller
			// administers the managing organization, not the user's.
			return Authorization{}, failure.NotFound("user %s not found in organization %s", subject.UserID, managing)
		}
	default:
		g, err := group.Get(ctx, c.store.DB(), instanceID, subject.GroupID)
		if err != nil && !failure.Is(err, failure.KindNotFound) {
			return Authorization{}, err
		}
		if err != nil || g.OrgID != managing {
			return Authorization{}, failure.NotFound("group %s not found in organization %s", subject.GroupID, managing)
		}
	}
	if roles, err = checkRoleKeys("roles", roles, allowed, what); err != nil {
		return Authorization{}, err
	}
	a := Authorization{ID: id.New(), UserID: subject.UserID, GroupID: subject.GroupID, ProjectID: projectID, GrantID: grantID, OrgID: managing, Roles: roles}
	field := "userId"
	if subject.GroupID != "" {
		field = "groupId"
	}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{
		Aggregate: authorizationAggregate(instanceID, a.ID, managing), ExpectedSequence: eventstore.NewAggregate,
		Events: []eventstore.Payload{&AuthorizationAdded{UserID: subject.UserID, GroupID: subject.GroupID, ProjectID: projectID, GrantID: grantID, Roles: roles}},
		Unique: []eventstore.Unique{{Kind: uniqueAuthorization, Scope: projectID, Value: subject.unique(), Field: field}},
	})
	if err != nil {
		return Authorization{}, err
	}
	a.CreatedAt = stored[0].CreatedAt.UTC().Truncate(time.Second)
	a.ChangedAt = a.CreatedAt
	return a, nil
}

// authorizationTarget answers, for an authorization of the project (grantID
// empty) or of one of its grants: the organization managing it, the roles
// it may hold, and how to name them.
func (m *writeModel) authorizationTarget(grantID string) (managing string, allowed func(string) bool, what string, err error) {
	if grantID == "" {
		return m.OrgID, func(k string) bool { _, ok := m.Roles[k]; return ok }, "the project", nil
	}
	g := m.Grants[grantID]
	if g == nil {
		return "", nil, "", failure.NotFound("project grant %.64q not found", grantID)
	}
	return g.GrantedOrgID, func(k string) bool { return slices.Contains(g.Roles, k) }, "the project grant", nil
}

// ChangeAuthorization replaces the roles of an authorization.
func (c *Commands) ChangeAuthorization(ctx context.Context, editor eventstore.Editor, instanceID, authorizationID string, roles []string) error {
	a, err := getAuthorization(ctx, c.store.DB(), instanceID, authorizationID)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.store, instanceID, a.ProjectID)
	if err != nil {
		return err
	}
	_, allowed, what, err := m.authorizationTarget(a.GrantID)
	if err != nil {
		return err
	}
	if roles, err = checkRoleKeys("roles", roles, allowed, what); err != nil {
		return err
	}
	if slices.Equal(roles, a.Roles) {
		return nil
	}
	return c.push(ctx, editor, eventstore.Append{Aggregate: authorizationAggregate(instanceID, a.ID, a.OrgID), ExpectedSequence: a.sequence,
		Events: []eventstore.Payload{&AuthorizationChanged{Roles: roles}}})
}

// RemoveAuthorization ends an authorization.
func (c *Commands) RemoveAuthorization(ctx context.Context, editor eventstore.Editor, instanceID, authorizationID string) error {
	a, err := getAuthorization(ctx, c.store.DB(), instanceID, authorizationID)
	if err != nil {
		return err
	}
	return c.push(ctx, editor, removal(instanceID, a))
}
