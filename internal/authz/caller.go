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
	// ClientID names what the caller acts through ("api", "cli", …), for
	// the editor of its changes.
	ClientID string
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
// holds on every organization in it.
func (c Caller) Can(p Permission, s Scope) bool {
	if grants(c.InstanceRoles, p) {
		return true
	}
	return s.Kind == ScopeOrg && s.ID != "" && grants(c.OrgRoles[s.ID], p)
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
	return false
}
