package authz

import "testing"

// BenchmarkRequire is the decision alone, on a resolved caller with roles
// on the instance, two organizations and a project: a map read and a bit
// test.
func BenchmarkRequire(b *testing.B) {
	book := NewRoleBook(Role{Key: "custom.helpdesk", Kind: ScopeOrg, Permissions: SetOf(UserRead, UserCredWrite)})
	c := Caller{InstanceID: "i", UserID: "u", InstanceRoles: []string{"instance.viewer"},
		OrgRoles: map[string][]string{"a": {"org.user_manager"}, "b": {"custom.helpdesk"}},
		Scoped:   []Membership{{Scope: Project("p", "c"), Roles: []string{"project.owner"}}}}.Resolve(book)
	scopes := []Scope{Org("a"), Org("b"), Project("p", "c"), Instance()}
	b.ResetTimer()
	for i := range b.N {
		if err := c.Require(UserRead, scopes[i%len(scopes)]); err != nil {
			b.Fatal(err)
		}
	}
}
