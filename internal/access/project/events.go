package project

import "github.com/castellan-iam/castellan/internal/eventstore"

// AggregateType is the project's aggregate (package client writes its
// first event, project.added, and its applications). Roles, settings and
// grants are events on it.
const AggregateType = "project"

// AuthorizationAggregate is an authorization's aggregate; its owner is the
// organization that manages it: the project's owner for its own users, the
// granted organization under a grant.
const AuthorizationAggregate = "authorization"

// RoleAdded adds a role to a project.
type RoleAdded struct {
	Key         string `json:"key"`
	DisplayName string `json:"displayName"`
	Group       string `json:"group,omitempty"`
}

// RoleChanged changes a role's display name and group.
type RoleChanged struct {
	Key         string `json:"key"`
	DisplayName string `json:"displayName"`
	Group       string `json:"group,omitempty"`
}

// RoleRemoved removes a role. The same push takes it from every grant
// (GrantChanged) and every authorization (AuthorizationChanged) holding
// it.
type RoleRemoved struct {
	Key string `json:"key"`
}

// SettingsSet sets a project's access settings.
type SettingsSet struct {
	Settings
}

// GrantAdded delegates a subset of a project's roles to another
// organization.
type GrantAdded struct {
	GrantID      string   `json:"grantId"`
	GrantedOrgID string   `json:"grantedOrgId"`
	Roles        []string `json:"roles"`
}

// GrantChanged replaces the roles of a grant. The same push takes the
// roles it lost from every authorization under the grant.
type GrantChanged struct {
	GrantID string   `json:"grantId"`
	Roles   []string `json:"roles"`
}

// GrantRemoved revokes a grant. The same push removes every authorization
// under it.
type GrantRemoved struct {
	GrantID string `json:"grantId"`
}

// AuthorizationAdded authorizes a user — or a group, whose members hold
// the roles (GroupID instead of UserID) — for a project, with roles of
// the project (GrantID empty) or of one grant of it.
type AuthorizationAdded struct {
	UserID    string   `json:"userId,omitempty"`
	GroupID   string   `json:"groupId,omitempty"`
	ProjectID string   `json:"projectId"`
	GrantID   string   `json:"grantId,omitempty"`
	Roles     []string `json:"roles"`
}

// AuthorizationChanged replaces an authorization's roles.
type AuthorizationChanged struct {
	Roles []string `json:"roles"`
}

// AuthorizationRemoved ends an authorization.
type AuthorizationRemoved struct{}

func (RoleAdded) EventType() string            { return "project.role.added" }
func (RoleChanged) EventType() string          { return "project.role.changed" }
func (RoleRemoved) EventType() string          { return "project.role.removed" }
func (SettingsSet) EventType() string          { return "project.settings.set" }
func (GrantAdded) EventType() string           { return "project.grant.added" }
func (GrantChanged) EventType() string         { return "project.grant.changed" }
func (GrantRemoved) EventType() string         { return "project.grant.removed" }
func (AuthorizationAdded) EventType() string   { return "authorization.added" }
func (AuthorizationChanged) EventType() string { return "authorization.changed" }
func (AuthorizationRemoved) EventType() string { return "authorization.removed" }

// RegisterEvents adds the events of this package to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[RoleAdded](r, 1)
	eventstore.Register[RoleChanged](r, 1)
	eventstore.Register[RoleRemoved](r, 1)
	eventstore.Register[SettingsSet](r, 1)
	eventstore.Register[GrantAdded](r, 1)
	eventstore.Register[GrantChanged](r, 1)
	eventstore.Register[GrantRemoved](r, 1)
	eventstore.Register[AuthorizationAdded](r, 1)
	eventstore.Register[AuthorizationChanged](r, 1)
	eventstore.Register[AuthorizationRemoved](r, 1)
}
