package member

import (
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// OrgMemberAdded gives a user roles on an organization (or changes them).
type OrgMemberAdded struct {
	UserID string   `json:"userId"`
	Roles  []string `json:"roles"`
}

// OrgMemberRemoved takes all of a user's roles on an organization.
type OrgMemberRemoved struct {
	UserID string `json:"userId"`
}

func (OrgMemberAdded) EventType() string   { return "org.member.added" }
func (OrgMemberRemoved) EventType() string { return "org.member.removed" }

// ProjectMemberAdded gives a user roles on a project (or changes them). It
// is an event of the aggregate of the organization owning the project,
// not of the project's: the project's read model (package client) keeps
// the project aggregate's sequence from its own events only, and an event
// it does not count would make its next optimistic-concurrency check
// fail. The owning organization's audit stream is where its
// administrators look for who administers its projects.
type ProjectMemberAdded struct {
	ProjectID string   `json:"projectId"`
	UserID    string   `json:"userId"`
	Roles     []string `json:"roles"`
}

// ProjectMemberRemoved takes all of a user's roles on a project.
type ProjectMemberRemoved struct {
	ProjectID string `json:"projectId"`
	UserID    string `json:"userId"`
}

func (ProjectMemberAdded) EventType() string   { return "org.project.member.added" }
func (ProjectMemberRemoved) EventType() string { return "org.project.member.removed" }

// ProjectGrantMemberAdded gives a user roles on a project grant (or
// changes them). It is an event of the granted organization's aggregate,
// not of the project's: the granting organization's audit stream does not
// learn who administers the grant inside the organization that received
// it.
type ProjectGrantMemberAdded struct {
	GrantID string   `json:"grantId"`
	UserID  string   `json:"userId"`
	Roles   []string `json:"roles"`
}

// ProjectGrantMemberRemoved takes all of a user's roles on a project
// grant.
type ProjectGrantMemberRemoved struct {
	GrantID string `json:"grantId"`
	UserID  string `json:"userId"`
}

func (ProjectGrantMemberAdded) EventType() string   { return "org.project_grant.member.added" }
func (ProjectGrantMemberRemoved) EventType() string { return "org.project_grant.member.removed" }

// RoleAggregateType is the aggregate of one custom administrator role
// (id: the role's key).
const RoleAggregateType = "custom_role"

// RoleDefined adds a custom administrator role to an instance.
type RoleDefined struct {
	Key         string   `json:"key"`
	DisplayName string   `json:"displayName"`
	Scope       string   `json:"scope"`
	Permissions []string `json:"permissions"`
}

// RoleChanged replaces a custom role's display name and permissions (its
// key and scope kind stay: memberships name it).
type RoleChanged struct {
	DisplayName string   `json:"displayName"`
	Permissions []string `json:"permissions"`
}

// RoleRemoved removes a custom role. The same push takes it from every
// membership that held it, with the membership events of each scope.
type RoleRemoved struct{}

func (RoleDefined) EventType() string { return "custom_role.defined" }
func (RoleChanged) EventType() string { return "custom_role.changed" }
func (RoleRemoved) EventType() string { return "custom_role.removed" }

// RegisterEvents adds the member events of organizations, projects and
// custom roles to r. (Instance member events are registered by package
// instance.)
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[OrgMemberAdded](r, 1)
	eventstore.Register[OrgMemberRemoved](r, 1)
	eventstore.Register[ProjectMemberAdded](r, 1)
	eventstore.Register[ProjectMemberRemoved](r, 1)
	eventstore.Register[ProjectGrantMemberAdded](r, 1)
	eventstore.Register[ProjectGrantMemberRemoved](r, 1)
	eventstore.Register[RoleDefined](r, 1)
	eventstore.Register[RoleChanged](r, 1)
	eventstore.Register[RoleRemoved](r, 1)
}
