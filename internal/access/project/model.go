package project

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// Limits.
const (
	maxRoles       = 500
	maxKey         = 100
	maxDisplayName = 200
	// maxCascade bounds how many authorizations one change may rewrite
	// (removing a role, shrinking or revoking a grant): one push holds
	// them all, so the change is atomic; beyond it the change is refused
	// and the caller removes the role from authorizations first.
	maxCascade = 10000
)

var roleKeyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// Role is a role of a project: a key applications see in tokens, a
// display name for people, and an optional group to sort them by.
type Role struct {
	Key         string
	DisplayName string
	Group       string
}

// Settings are a project's access settings.
type Settings struct {
	// AssertRoles puts the user's roles of the project in the tokens of
	// the project's applications without the client asking (otherwise a
	// client asks with the scope urn:castellan:project:roles).
	AssertRoles bool `json:"assertRoles"`
	// RequireAuthorization refuses sign-in to the project's applications
	// to users without an authorization for the project.
	RequireAuthorization bool `json:"requireAuthorization"`
	// RequireOrgAccess refuses sign-in to users whose organization neither
	// owns the project nor holds a grant of it.
	RequireOrgAccess bool `json:"requireOrgAccess"`
}

// Grant is a project delegated to another organization with a subset of
// its roles.
type Grant struct {
	ID           string
	ProjectID    string
	OwnerOrgID   string
	GrantedOrgID string
	Roles        []string
	CreatedAt    time.Time
}

// Authorization is a user's (or a group's) authorization for a project:
// roles of the project, or of one grant of it (GrantID). OrgID is the
// organization that manages it.
type Authorization struct {
	ID     string
	UserID string
	// GroupID is set, and UserID empty, for a group's authorization.
	GroupID   string
	ProjectID string
	GrantID   string
	OrgID     string
	Roles     []string
	CreatedAt time.Time
	ChangedAt time.Time
	// sequence is the authorization's last event, for commands.
	sequence int64
}

// Subject is who an authorization is for: a user or a group of the
// managing organization.
type Subject struct {
	UserID  string
	GroupID string
}

// unique is the subject's value in the unique claim of one authorization
// per subject and project.
func (s Subject) unique() string {
	if s.GroupID != "" {
		return "group:" + s.GroupID
	}
	return s.UserID
}

// Subject is who the authorization is for.
func (a Authorization) Subject() Subject { return Subject{UserID: a.UserID, GroupID: a.GroupID} }

// writeModel is a project's access folded from its events, for commands.
type writeModel struct {
	ID       string
	OrgID    string
	Sequence int64
	Roles    map[string]Role
	Settings Settings
	Grants   map[string]*Grant
}

func (m *writeModel) apply(e *eventstore.Event) {
	m.Sequence = e.Sequence
	switch p := e.Payload.(type) {
	case *client.ProjectAdded:
		m.OrgID = e.Aggregate.Owner
	case *RoleAdded:
		m.Roles[p.Key] = Role{Key: p.Key, DisplayName: p.DisplayName, Group: p.Group}
	case *RoleChanged:
		m.Roles[p.Key] = Role{Key: p.Key, DisplayName: p.DisplayName, Group: p.Group}
	case *RoleRemoved:
		delete(m.Roles, p.Key)
	case *SettingsSet:
		m.Settings = p.Settings
	case *GrantAdded:
		m.Grants[p.GrantID] = &Grant{ID: p.GrantID, ProjectID: m.ID, OwnerOrgID: m.OrgID, GrantedOrgID: p.GrantedOrgID, Roles: p.Roles}
	case *GrantChanged:
		if g := m.Grants[p.GrantID]; g != nil {
			g.Roles = p.Roles
		}
	case *GrantRemoved:
		delete(m.Grants, p.GrantID)
	}
}

// load folds a project's events; a project the instance does not have is
// failure.NotFound.
func load(ctx context.Context, store *eventstore.Store, instanceID, projectID string) (*writeModel, error) {
	if projectID == "" {
		return nil, failure.InvalidArgument("projectId", "required")
	}
	events, err := store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{AggregateType}, AggregateIDs: []string{projectID}})
	if err != nil {
		return nil, err
	}
	m := &writeModel{ID: projectID, Roles: map[string]Role{}, Grants: map[string]*Grant{}}
	for i := range events {
		m.apply(&events[i])
	}
	if m.OrgID == "" {
		return nil, failure.NotFound("project %.64q not found", projectID)
	}
	return m, nil
}

func (m *writeModel) aggregate(instanceID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: m.ID, Owner: m.OrgID}
}

// checkRole validates a role's fields.
func checkRole(r Role) (Role, error) {
	if len(r.Key) == 0 || len(r.Key) > maxKey || !roleKeyPattern.MatchString(r.Key) {
		return r, failure.InvalidArgument("key", "must be 1 to %d characters of letters, digits and _ . : -, starting with a letter or digit", maxKey)
	}
	r.DisplayName = strings.TrimSpace(r.DisplayName)
	if r.DisplayName == "" {
		r.DisplayName = r.Key
	}
	if !utf8.ValidString(r.DisplayName) || utf8.RuneCountInString(r.DisplayName) > maxDisplayName {
		return r, failure.InvalidArgument("displayName", "must be at most %d characters", maxDisplayName)
	}
	r.Group = strings.TrimSpace(r.Group)
	if !utf8.ValidString(r.Group) || utf8.RuneCountInString(r.Group) > maxDisplayName {
		return r, failure.InvalidArgument("group", "must be at most %d characters", maxDisplayName)
	}
	return r, nil
}

// checkRoleKeys sorts and deduplicates keys, refusing any that is not in
// allowed; what names the field in the error.
func checkRoleKeys(field string, keys []string, allowed func(string) bool, what string) ([]string, error) {
	if len(keys) > maxRoles {
		return nil, failure.InvalidArgument(field, "at most %d roles", maxRoles)
	}
	out := slices.Compact(slices.Sorted(slices.Values(keys)))
	for _, k := range out {
		if !allowed(k) {
			return nil, failure.InvalidArgument(field, "%.100q is not a role of %s", k, what)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// without returns roles less the ones in gone, and whether any was.
func without(roles []string, gone func(string) bool) ([]string, bool) {
	out := slices.DeleteFunc(slices.Clone(roles), gone)
	return out, len(out) != len(roles)
}
