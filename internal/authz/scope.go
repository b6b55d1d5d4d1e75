package authz

// ScopeKind is what a role is held on.
type ScopeKind string

// The scope kinds.
const (
	ScopeInstance ScopeKind = "instance"
	ScopeOrg      ScopeKind = "org"
	// ScopeProject is one project; its Org is the organization that owns
	// it, whose administrators hold their roles on it too.
	ScopeProject ScopeKind = "project"
	// ScopeProjectGrant is one project grant (a project delegated to
	// another organization); its Org is the granted organization, whose
	// administrators hold their roles on it too. The project's owner does
	// not: what the granted organization does with the grant is its own.
	ScopeProjectGrant ScopeKind = "project_grant"
)

// Scope is one object roles are held on: the instance (ID is the
// instance's id, or empty in a permission check, where the caller's
// instance is meant), one organization, one project or one project grant.
// Org is the organization a project or project grant belongs to (the
// project's owner; the grant's granted organization).
type Scope struct {
	Kind ScopeKind
	ID   string
	Org  string
}

// Instance is the scope of the caller's instance.
func Instance() Scope { return Scope{Kind: ScopeInstance} }

// InstanceScope is the scope of instance id, for listing its members.
func InstanceScope(id string) Scope { return Scope{Kind: ScopeInstance, ID: id} }

// Org is the scope of one organization.
func Org(id string) Scope { return Scope{Kind: ScopeOrg, ID: id} }

// Project is the scope of project id, owned by organization org.
func Project(id, org string) Scope { return Scope{Kind: ScopeProject, ID: id, Org: org} }

// ProjectGrant is the scope of project grant id, granted to organization
// org.
func ProjectGrant(id, org string) Scope { return Scope{Kind: ScopeProjectGrant, ID: id, Org: org} }

// OrgOrInstance is Org(id), or the instance when id is empty: for requests
// whose organization is optional, such as a search across organizations.
func OrgOrInstance(id string) Scope {
	if id == "" {
		return Instance()
	}
	return Org(id)
}

func (s Scope) String() string {
	switch s.Kind {
	case ScopeInstance:
		return "the instance"
	case ScopeProject:
		return "project " + s.ID
	case ScopeProjectGrant:
		return "project grant " + s.ID
	}
	return "organization " + s.ID
}
