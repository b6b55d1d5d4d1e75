package authz

import (
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Caller is an authenticated user with the roles it holds in its instance.
// Package authn builds it from a credential; package member reads the
// roles.
type Caller struct {
	InstanceID    string
	UserID        string
	InstanceRoles []string
	OrgRoles      map[string][]string
	// Scoped are the roles held on projects and project grants, each
	// with the scope's organization filled in.
	Scoped []Membership
	// ClientID names what the caller acts through ("api", "cli", …), for
	// the editor of its changes.
	ClientID string
}

// Membership is roles held on one scope.
type Membership struct {
	Scope Scope
	Roles []string
}

// Editor is the event editor of the caller's changes.
func (c Caller) Editor() eventstore.Editor {
	client := c.ClientID
	if client == "" {
		client = "api"
	}
	return eventstore.Editor{UserID: c.UserID, ClientID: client}
}

// Can reports whether the caller holds p on s. A role on the instance
// holds on every organization, project and project grant in it; a role on
// an organization holds on its projects and on the grants it received.
func (c Caller) Can(p Permission, s Scope) bool {
	if grants(c.InstanceRoles, p) {
		return true
	}
	switch s.Kind {
	case ScopeOrg:
		return s.ID != "" && grants(c.OrgRoles[s.ID], p)
	case ScopeProject, ScopeProjectGrant:
		if s.Org != "" && grants(c.OrgRoles[s.Org], p) {
			return true
		}
		for _, m := range c.Scoped {
			if s.ID != "" && m.Scope.Kind == s.Kind && m.Scope.ID == s.ID && grants(m.Roles, p) {
				return true
			}
		}
	}
	return false
}

// Require is Can as an error: failure.PermissionDenied naming the
// permission and the scope.
func (c Caller) Require(p Permission, s Scope) error {
	if c.Can(p, s) {
		return nil
	}
	return failure.PermissionDenied("missing permission %s on %s", p, s)
}

// CanAnywhere reports whether the caller holds p on the instance or on any
// organization — for instance-wide objects that organization administrators
// may read, such as user types.
func (c Caller) CanAnywhere(p Permission) bool {
	if grants(c.InstanceRoles, p) {
		return true
	}
	for _, roles := range c.OrgRoles {
		if grants(roles, p) {
			return true
		}
	}
	for _, m := range c.Scoped {
		if grants(m.Roles, p) {
			return true
		}
	}
	return false
}
