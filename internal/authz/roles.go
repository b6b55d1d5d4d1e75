package authz

import (
	"regexp"
	"slices"
	"sort"

	"github.com/castellan-iam/castellan/internal/failure"
)

// CustomPrefix starts the key of every custom role, so that a custom role
// can never shadow a built-in one, today's or a future one.
const CustomPrefix = "custom."

var customKey = regexp.MustCompile(`^custom\.[a-z0-9][a-z0-9_.-]{0,62}$`)

// Role is a role of the catalogue: built in, or defined by an instance.
type Role struct {
	Key         string
	DisplayName string
	Kind        ScopeKind
	Permissions Set
	Custom      bool
}

// RoleBook resolves role keys to permissions: the built-in roles and one
// instance's custom roles. The zero RoleBook knows the built-in roles.
type RoleBook struct {
	custom map[string]Role
}

// NewRoleBook returns the book of the built-in roles and custom.
func NewRoleBook(custom ...Role) RoleBook {
	b := RoleBook{custom: make(map[string]Role, len(custom))}
	for _, r := range custom {
		r.Custom = true
		b.custom[r.Key] = r
	}
	return b
}

// Lookup returns the role key names.
func (b RoleBook) Lookup(key string) (Role, bool) {
	if ps, ok := builtin[key]; ok {
		return Role{Key: key, Kind: KindOfRole(key), Permissions: ps}, true
	}
	r, ok := b.custom[key]
	return r, ok
}

// Permissions is the union of the permissions of roles; unknown roles
// (a custom role removed while a cached membership still names it) grant
// nothing.
func (b RoleBook) Permissions(roles []string) Set {
	var s Set
	for _, key := range roles {
		if r, ok := b.Lookup(key); ok {
			s |= r.Permissions
		}
	}
	return s
}

// All lists every role, built-in ones first, each group by key.
func (b RoleBook) All() []Role {
	var out []Role
	for key := range builtin {
		r, _ := b.Lookup(key)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	var custom []Role
	for _, r := range b.custom {
		custom = append(custom, r)
	}
	sort.Slice(custom, func(i, j int) bool { return custom[i].Key < custom[j].Key })
	return append(out, custom...)
}

// Validate reports the first role of roles that is unknown or not held on
// scopes of kind, as an error naming it; no roles at all is an error too.
func (b RoleBook) Validate(kind ScopeKind, roles []string) error {
	if len(roles) == 0 {
		return failure.InvalidArgument("roles", "at least one role is required")
	}
	for i, key := range roles {
		r, ok := b.Lookup(key)
		if !ok {
			return failure.InvalidArgument("roles", "%q is not a role of this instance", key)
		}
		if r.Kind != kind {
			return failure.InvalidArgument("roles", "%q is a role held on a scope of kind %s, not %s", key, r.Kind, kind)
		}
		if slices.Contains(roles[:i], key) {
			return failure.InvalidArgument("roles", "%q is named twice", key)
		}
	}
	return nil
}

// ValidateCustom checks a custom role's definition and returns its
// permissions as a Set: the key starts with CustomPrefix and is short,
// lower-case ASCII; the kind is one of ScopeKinds; every permission is in
// the catalogue, named once, and applicable to the kind.
func ValidateCustom(key, displayName string, kind ScopeKind, permissions []string) (Set, error) {
	if !customKey.MatchString(key) {
		return 0, failure.InvalidArgument("key", "%q must start with %q and be at most 70 characters of a-z, 0-9, '_', '.', '-'", key, CustomPrefix)
	}
	if displayName == "" || len(displayName) > 200 {
		return 0, failure.InvalidArgument("displayName", "required, at most 200 bytes")
	}
	if !slices.Contains(ScopeKinds, kind) {
		return 0, failure.InvalidArgument("scope", "%q is not a scope kind (instance, org, project, project_grant)", kind)
	}
	if len(permissions) == 0 {
		return 0, failure.InvalidArgument("permissions", "at least one permission is required")
	}
	applicable := Applicable(kind)
	var s Set
	for _, name := range permissions {
		p := Permission(name)
		if !Known(p) {
			return 0, failure.InvalidArgument("permissions", "%q is not a permission of the catalogue", name)
		}
		if s.Has(p) {
			return 0, failure.InvalidArgument("permissions", "%q is named twice", name)
		}
		if !applicable.Has(p) {
			return 0, failure.InvalidArgument("permissions", "%q does not apply to a role held on a scope of kind %s", name, kind)
		}
		s |= SetOf(p)
	}
	return s, nil
}
