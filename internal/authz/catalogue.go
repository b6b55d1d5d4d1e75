package authz

import (
	"math/bits"
	"strings"
)

// Permission names one kind of action.
type Permission string

// The permissions. Each is described in Catalogue, in this order.
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
	// RoleWrite defines, changes and removes the instance's custom
	// administrator roles. It is held on the instance only.
	RoleWrite Permission = "role.write"
	// ReportRead reads the sign-in and user reports (package report): of
	// one organization on it, of the whole instance on the instance.
	ReportRead Permission = "report.read"
)

// PermissionInfo is one entry of the published catalogue.
type PermissionInfo struct {
	Name        Permission
	Description string
}

// Catalogue lists every permission with what it allows, in a fixed order:
// a permission's index is its bit in a Set. Append only — the order is
// not stored anywhere, but keeping it stable keeps listings stable.
var Catalogue = []PermissionInfo{
	{InstanceRead, "read the instance: its settings of record and signing keys"},
	{InstanceWrite, "change the instance: rotate its signing keys"},
	{OrgRead, "read organizations, their domains and metadata"},
	{OrgCreate, "create organizations"},
	{OrgWrite, "change an organization: name, domains, metadata, state"},
	{OrgDelete, "remove organizations"},
	{UserRead, "read and search users"},
	{UserWrite, "create users and change their profile, login name, contact data and state"},
	{UserDelete, "delete users"},
	{UserCredWrite, "change users' credentials: passwords, authenticators, personal access tokens, machine keys"},
	{SchemaRead, "read user types and their schemas"},
	{SchemaWrite, "create and change user types"},
	{MemberRead, "list administrators (members) and their roles"},
	{MemberWrite, "give and take administrator roles (only roles whose permissions the caller holds itself)"},
	{EventRead, "read the event log (audit trail)"},
	{SettingsRead, "read policies and settings"},
	{SettingsWrite, "change policies and settings"},
	{SessionRead, "list and read sign-in sessions"},
	{SessionWrite, "create sessions and check factors in them (a login client)"},
	{ProjectRead, "read projects, their applications and roles"},
	{ProjectWrite, "create and change projects, applications and client secrets"},
	{ProjectGrantWrite, "grant a project's roles to another organization, change or revoke the grant"},
	{AuthorizationRead, "read which users hold which roles of a project"},
	{AuthorizationWrite, "give and take roles of a project to users"},
	{RoleWrite, "define, change and remove custom administrator roles (only from permissions the caller holds itself)"},
	{ReportRead, "read reports: active users, sign-ins, new users, MFA adoption"},
}

// bit is each permission's index in a Set.
var bit = func() map[Permission]uint {
	m := make(map[Permission]uint, len(Catalogue))
	for i, p := range Catalogue {
		m[p.Name] = uint(i)
	}
	if len(Catalogue) > 64 {
		panic("authz: a Set holds at most 64 permissions")
	}
	return m
}()

// Known reports whether p is in the catalogue.
func Known(p Permission) bool {
	_, ok := bit[p]
	return ok
}

// Set is a set of permissions, one bit each: a decision is a bit test.
type Set uint64

// SetOf returns the set of ps; permissions not in the catalogue are left
// out (Known tells them).
func SetOf(ps ...Permission) Set {
	var s Set
	for _, p := range ps {
		if i, ok := bit[p]; ok {
			s |= 1 << i
		}
	}
	return s
}

// Has reports whether s holds p.
func (s Set) Has(p Permission) bool {
	i, ok := bit[p]
	return ok && s&(1<<i) != 0
}

// Contains reports whether s holds every permission of o.
func (s Set) Contains(o Set) bool { return o&^s == 0 }

// Len is the number of permissions in s.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// List returns the permissions of s in catalogue order.
func (s Set) List() []Permission {
	var out []Permission
	for i, p := range Catalogue {
		if s&(1<<uint(i)) != 0 {
			out = append(out, p.Name)
		}
	}
	return out
}

// Strings is List as strings, for messages and the API.
func (s Set) Strings() []string {
	var out []string
	for _, p := range s.List() {
		out = append(out, string(p))
	}
	return out
}

// InstanceOwner is the instance role that holds every permission: an
// instance always keeps an active one (package member).
const InstanceOwner = "instance.owner"

// Roles are the built-in roles and the permissions they bundle. A role's
// key starts with the kind of scope it is held on ("instance.", "org.",
// "project.", "project_grant."). Custom roles (RoleBook) add to them per
// instance.
var Roles = map[string][]Permission{
	InstanceOwner: {InstanceRead, InstanceWrite, OrgRead, OrgCreate, OrgWrite, OrgDelete, UserRead, UserWrite, UserDelete,
		UserCredWrite, SchemaRead, SchemaWrite, MemberRead, MemberWrite, EventRead, SettingsRead, SettingsWrite,
		SessionRead, SessionWrite, ProjectRead, ProjectWrite, ProjectGrantWrite, AuthorizationRead, AuthorizationWrite, RoleWrite, ReportRead},
	"instance.viewer": {InstanceRead, OrgRead, UserRead, SchemaRead, MemberRead, EventRead, SettingsRead, SessionRead, ProjectRead,
		AuthorizationRead, ReportRead},
	// A login client is the account a login runs as: it signs users in
	// and reads the settings that say how, and nothing else.
	"instance.login_client": {SessionWrite, SessionRead, SettingsRead},
	"org.owner": {OrgRead, OrgWrite, UserRead, UserWrite, UserDelete, UserCredWrite, SchemaRead, MemberRead, MemberWrite, EventRead,
		SettingsRead, SettingsWrite, SessionRead, ProjectRead, ProjectWrite, ProjectGrantWrite, AuthorizationRead, AuthorizationWrite, ReportRead},
	"org.user_manager": {OrgRead, UserRead, UserWrite, UserDelete, UserCredWrite, SchemaRead, SessionRead, AuthorizationRead,
		AuthorizationWrite},
	"org.viewer": {OrgRead, UserRead, SchemaRead, MemberRead, SettingsRead, SessionRead, ProjectRead, AuthorizationRead},
	// Project roles hold on one project (and its applications and roles);
	// project grant roles on one grant an organization received.
	"project.owner":        {ProjectRead, ProjectWrite, ProjectGrantWrite, MemberRead, MemberWrite, AuthorizationRead, AuthorizationWrite},
	"project.viewer":       {ProjectRead, MemberRead, AuthorizationRead},
	"project_grant.owner":  {ProjectRead, MemberRead, MemberWrite, AuthorizationRead, AuthorizationWrite},
	"project_grant.viewer": {ProjectRead, MemberRead, AuthorizationRead},
}

// builtin is Roles as sets.
var builtin = func() map[string]Set {
	m := make(map[string]Set, len(Roles))
	for r, ps := range Roles {
		for _, p := range ps {
			if !Known(p) {
				panic("authz: role " + r + " names unknown permission " + string(p))
			}
		}
		m[r] = SetOf(ps...)
	}
	return m
}()

// ScopeKinds lists the kinds of scope roles are held on, widest first.
var ScopeKinds = []ScopeKind{ScopeInstance, ScopeOrg, ScopeProject, ScopeProjectGrant}

// Applicable is the permissions a role held on a scope of kind may carry:
// those some built-in role of that kind carries. A permission outside it
// would never be asked for on such a scope (instance.write on a project),
// so a custom role naming it is refused rather than silently inert.
func Applicable(kind ScopeKind) Set {
	var s Set
	for r, ps := range builtin {
		if KindOfRole(r) == kind {
			s |= ps
		}
	}
	return s
}

// KindOfRole is the kind of scope a role key names by its prefix
// ("custom." roles name it in their definition: RoleBook), or "" when the
// key has none of the built-in prefixes.
func KindOfRole(role string) ScopeKind {
	prefix, _, _ := strings.Cut(role, ".")
	for _, k := range ScopeKinds {
		if prefix == string(k) {
			return k
		}
	}
	return ""
}
