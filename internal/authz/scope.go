package authz

// ScopeKind is what a role is held on.
type ScopeKind string

// The scope kinds. Projects and project grants come next.
const (
	ScopeInstance ScopeKind = "instance"
	ScopeOrg      ScopeKind = "org"
)

// Scope is one object roles are held on: the instance (ID is the
// instance's id, or empty in a permission check, where the caller's
// instance is meant) or one organization.
type Scope struct {
	Kind ScopeKind
	ID   string
}

// Instance is the scope of the caller's instance.
func Instance() Scope { return Scope{Kind: ScopeInstance} }

// InstanceScope is the scope of instance id, for listing its members.
func InstanceScope(id string) Scope { return Scope{Kind: ScopeInstance, ID: id} }

// Org is the scope of one organization.
func Org(id string) Scope { return Scope{Kind: ScopeOrg, ID: id} }

// OrgOrInstance is Org(id), or the instance when id is empty: for requests
// whose organization is optional, such as a search across organizations.
func OrgOrInstance(id string) Scope {
	if id == "" {
		return Instance()
	}
	return Org(id)
}

func (s Scope) String() string {
	if s.Kind == ScopeInstance {
		return "the instance"
	}
	return "organization " + s.ID
}
