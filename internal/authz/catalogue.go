package authz

import (
	"slices"
	"strings"
)

// Permission names one kind of action.
type Permission string

// The permissions.
const (
	InstanceRead  Permission = "instance.read"
	InstanceWrite Permission = "instance.write"
	OrgRead       Permission = "org.read"
	OrgCreate     Permission = "org.create"
	OrgWrite      Permission = "org.write"
	OrgDelete     Permission = "org.delete"
	UserRead      Permission = "user.read"
	UserWrite     Permission = "user.write"
	UserDelete    Permission = "user.delete"
	UserCredWrite Permission = "user.credential.write"
	SchemaRead    Permission = "schema.read"
	SchemaWrite   Permission = "schema.write"
	MemberRead    Permission = "member.read"
	MemberWrite   Permission = "member.write"
	EventRead     Permission = "event.read"
	// SettingsRead and SettingsWrite cover the policies of the instance
	// (on the instance) or of one organization (on it).
	SettingsRead  Permission = "settings.read"
	SettingsWrite Permission = "settings.write"
	// SessionWrite lets a login (the hosted one, or a customer's own on the
	// Session API) create sessions and check factors in them; SessionRead
	// lists and reads sessions. A user lists and ends its own sessions
	// without either.
	SessionRead  Permission = "session.read"
	SessionWrite Permission = "session.write"
	// ProjectRead and ProjectWrite cover an organization's projects and
	// their applications, client secrets included.
	ProjectRead  Permission = "project.read"
	ProjectWrite Permission = "project.write"
	// ProjectGrantWrite lets a project's owner delegate it: grant a subset
	// of its roles to another organization, change the subset, revoke.
	ProjectGrantWrite Permission = "project.grant.write"
	// AuthorizationRead and AuthorizationWrite cover authorizations (which
	// user holds which roles of a project): on a project for its owner's
	// users, on a project grant for the granted organization's users.
	AuthorizationRead  Permission = "authorization.read"
	AuthorizationWrite Permission = "authorization.write"
)

// InstanceOwner is the instance role that holds every permission: an
// instance always keeps an active one (package member).
const InstanceOwner = "instance.owner"

// Roles bundles permissions. Instance roles start with "instance.", and
// organization roles with "org.".
var Roles = map[string][]Permission{
	InstanceOwner: {InstanceRead, InstanceWrite, OrgRead, OrgCreate, OrgWrite, OrgDelete, UserRead, UserWrite, UserDelete,
		UserCredWrite, SchemaRead, SchemaWrite, MemberRead, MemberWrite, EventRead, SettingsRead, SettingsWrite,
		SessionRead, SessionWrite, ProjectRead, ProjectWrite, ProjectGrantWrite, AuthorizationRead, AuthorizationWrite},
	"instance.viewer": {InstanceRead, OrgRead, UserRead, SchemaRead, MemberRead, EventRead, SettingsRead, SessionRead, ProjectRead,
		AuthorizationRead},
	// A login client is the account a login runs as: it signs users in
	// and reads the settings that say how, and nothing else.
	"instance.login_client": {SessionWrite, SessionRead, SettingsRead},
	"org.owner": {OrgRead, OrgWrite, UserRead, UserWrite, UserDelete, UserCredWrite, SchemaRead, MemberRead, MemberWrite, EventRead,
		SettingsRead, SettingsWrite, SessionRead, ProjectRead, ProjectWrite, ProjectGrantWrite, AuthorizationRead, AuthorizationWrite},
	"org.user_manager": {OrgRead, UserRead, UserWrite, UserDelete, UserCredWrite, SchemaRead, SessionRead, AuthorizationRead,
		AuthorizationWrite},
	"org.viewer": {OrgRead, UserRead, SchemaRead, MemberRead, SettingsRead, SessionRead, ProjectRead, AuthorizationRead},
	// Project roles hold on one project (and its applications and roles);
	// project grant roles on one grant an organization received.
	"project.owner":        {ProjectRead, ProjectWrite, ProjectGrantWrite, AuthorizationRead, AuthorizationWrite},
	"project.viewer":       {ProjectRead, AuthorizationRead},
	"project_grant.owner":  {ProjectRead, AuthorizationRead, AuthorizationWrite},
	"project_grant.viewer": {ProjectRead, AuthorizationRead},
}

// ValidRoles reports the first role that is unknown or not held on scopes
// of kind, or "" when all are valid.
func ValidRoles(kind ScopeKind, roles []string) (invalid string) {
	if len(roles) == 0 {
		return "(none)"
	}
	for _, r := range roles {
		if _, ok := Roles[r]; !ok || !strings.HasPrefix(r, string(kind)+".") {
			return r
		}
	}
	return ""
}

func grants(roles []string, p Permission) bool {
	for _, r := range roles {
		if slices.Contains(Roles[r], p) {
			return true
		}
	}
	return false
}
