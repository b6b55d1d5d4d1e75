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
)

// InstanceOwner is the instance role that holds every permission: an
// instance always keeps an active one (package member).
const InstanceOwner = "instance.owner"

// Roles bundles permissions. Instance roles start with "instance.", and
// organization roles with "org.".
var Roles = map[string][]Permission{
	InstanceOwner: {InstanceRead, InstanceWrite, OrgRead, OrgCreate, OrgWrite, OrgDelete, UserRead, UserWrite, UserDelete,
		UserCredWrite, SchemaRead, SchemaWrite, MemberRead, MemberWrite, EventRead},
	"instance.viewer":  {InstanceRead, OrgRead, UserRead, SchemaRead, MemberRead, EventRead},
	"org.owner":        {OrgRead, OrgWrite, UserRead, UserWrite, UserDelete, UserCredWrite, SchemaRead, MemberRead, MemberWrite, EventRead},
	"org.user_manager": {OrgRead, UserRead, UserWrite, UserDelete, UserCredWrite, SchemaRead},
	"org.viewer":       {OrgRead, UserRead, SchemaRead, MemberRead},
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
