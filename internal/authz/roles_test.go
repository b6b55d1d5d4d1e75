package authz

import (
	"errors"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

func TestCatalogueIsConsistent(t *testing.T) {
	seen := map[Permission]bool{}
	for _, p := range Catalogue {
		if seen[p.Name] || p.Description == "" {
			t.Fatalf("%s: listed twice or without a description", p.Name)
		}
		seen[p.Name] = true
	}
	for r, ps := range Roles {
		if KindOfRole(r) == "" {
			t.Fatalf("built-in role %s has no scope prefix", r)
		}
		if got := SetOf(ps...); got.Len() != len(ps) {
			t.Fatalf("role %s: %d permissions, %d in its set", r, len(ps), got.Len())
		}
	}
	if !SetOf(Roles[InstanceOwner]...).Contains(Set(1<<uint(len(Catalogue)) - 1)) {
		t.Fatal("instance.owner must hold every permission of the catalogue")
	}
}

func TestValidateCustom(t *testing.T) {
	for _, tc := range []struct {
		name, key, display string
		kind               ScopeKind
		perms              []string
		field, message     string // field "": valid
	}{
		{"ok/an org helpdesk role", "custom.helpdesk", "Helpdesk", ScopeOrg, []string{"user.read", "user.credential.write"}, "", ""},
		{"ok/an instance auditor", "custom.audit", "Auditor", ScopeInstance, []string{"event.read", "member.read"}, "", ""},
		{"fail/no prefix", "helpdesk", "Helpdesk", ScopeOrg, []string{"user.read"}, "key", "must start with"},
		{"fail/shadows a built-in role", "org.owner", "Owner", ScopeOrg, []string{"user.read"}, "key", "must start with"},
		{"fail/upper case", "custom.Help", "Help", ScopeOrg, []string{"user.read"}, "key", "must start with"},
		{"fail/no display name", "custom.x", "", ScopeOrg, []string{"user.read"}, "displayName", "required"},
		{"fail/unknown scope kind", "custom.x", "X", "galaxy", []string{"user.read"}, "scope", `"galaxy" is not a scope kind`},
		{"fail/no permissions", "custom.x", "X", ScopeOrg, nil, "permissions", "at least one"},
		{"fail/unknown permission", "custom.x", "X", ScopeOrg, []string{"user.fly"}, "permissions", `"user.fly" is not a permission`},
		{"fail/duplicate permission", "custom.x", "X", ScopeOrg, []string{"user.read", "user.read"}, "permissions", "named twice"},
		{"fail/instance permission on an organization", "custom.x", "X", ScopeOrg, []string{"instance.write"}, "permissions", "does not apply"},
		{"fail/role.write on a project", "custom.x", "X", ScopeProject, []string{"role.write"}, "permissions", "does not apply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ValidateCustom(tc.key, tc.display, tc.kind, tc.perms)
			if tc.field == "" {
				if err != nil || set.Len() != len(tc.perms) {
					t.Fatalf("got %v, %v", set.Strings(), err)
				}
				return
			}
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("got %v, want invalid %s containing %q", err, tc.field, tc.message)
			}
		})
	}
}

func TestCustomRolesResolve(t *testing.T) {
	book := NewRoleBook(Role{Key: "custom.helpdesk", DisplayName: "Helpdesk", Kind: ScopeOrg, Permissions: SetOf(UserRead, UserCredWrite, MemberWrite)})
	helpdesk := Caller{InstanceID: "i", UserID: "h", OrgRoles: map[string][]string{"a": {"custom.helpdesk"}}}.Resolve(book)
	if !helpdesk.Can(UserCredWrite, Org("a")) || helpdesk.Can(UserWrite, Org("a")) || helpdesk.Can(UserRead, Org("b")) {
		t.Fatal("a custom role grants exactly its permissions on its scope")
	}
	unresolved := Caller{InstanceID: "i", UserID: "h", OrgRoles: map[string][]string{"a": {"custom.helpdesk"}}}
	if unresolved.Can(UserRead, Org("a")) {
		t.Fatal("a custom role grants nothing without the instance's role book")
	}
	// Giving org.owner needs every permission of it: the helpdesk's
	// member.write is not enough.
	err := helpdesk.RequireAll(book.Permissions([]string{"org.owner"}), Org("a"), "giving org.owner")
	if !failure.Is(err, failure.KindPermissionDenied) || !strings.Contains(err.Error(), "org.write") {
		t.Fatalf("RequireAll = %v", err)
	}
	if err := helpdesk.RequireAll(book.Permissions([]string{"custom.helpdesk"}), Org("a"), "giving custom.helpdesk"); err != nil {
		t.Fatal(err)
	}
	if err := book.Validate(ScopeOrg, []string{"custom.helpdesk", "org.viewer"}); err != nil {
		t.Fatal(err)
	}
	for _, roles := range [][]string{nil, {"custom.gone"}, {"custom.helpdesk"}, {"org.viewer", "org.viewer"}} {
		kind := ScopeOrg
		if len(roles) == 1 && roles[0] == "custom.helpdesk" {
			kind = ScopeProject
		}
		if err := book.Validate(kind, roles); !failure.Is(err, failure.KindInvalidArgument) {
			t.Fatalf("Validate(%s, %v) = %v", kind, roles, err)
		}
	}
}
