package authz

import (
	"strings"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Caller is an authenticated user with the roles it holds in its instance.
// Package authn builds it from a credential; package member reads the
// roles and resolves them (Resolve) to the permission sets every decision
// reads.
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
	// SessionID is the session or personal access token the caller was
	// authenticated by, for the editor of its changes.
	SessionID string

	perms *resolved
}

// Membership is roles held on one scope.
type Membership struct {
	Scope Scope
	Roles []string
}

type scopeKey struct {
	kind ScopeKind
	id   string
}

// resolved is a caller's roles as permission sets, per scope: a decision
// is a map read and a bit test.
type resolved struct {
	instance Set
	orgs     map[string]Set
	scoped   map[scopeKey]Set
	anywhere Set
}

// Resolve returns c with its roles resolved to permissions through book
// (the built-in roles and the instance's custom ones). A Caller that was
// never resolved decides with the built-in roles only. The result is
// read-only and may be shared between goroutines (package authn caches it).
func (c Caller) Resolve(book RoleBook) Caller {
	r := &resolved{orgs: make(map[string]Set, len(c.OrgRoles)), scoped: make(map[scopeKey]Set, len(c.Scoped))}
	r.instance = book.Permissions(c.InstanceRoles)
	r.anywhere = r.instance
	for o, roles := range c.OrgRoles {
		s := book.Permissions(roles)
		r.orgs[o] = s
		r.anywhere |= s
	}
	for _, m := range c.Scoped {
		s := book.Permissions(m.Roles)
		k := scopeKey{m.Scope.Kind, m.Scope.ID}
		r.scoped[k] |= s
		r.anywhere |= s
	}
	c.perms = r
	return c
}

func (c Caller) sets() *resolved {
	if c.perms != nil {
		return c.perms
	}
	return c.Resolve(RoleBook{}).perms
}

// On is every permission the caller holds on s: its instance roles' on
// every scope, an organization's roles on the organization and on its
// projects and the grants it received, and the roles held on s itself.
func (c Caller) On(s Scope) Set {
	r := c.sets()
	set := r.instance
	switch s.Kind {
	case ScopeOrg:
		if s.ID != "" {
			set |= r.orgs[s.ID]
		}
	case ScopeProject, ScopeProjectGrant:
		if s.Org != "" {
			set |= r.orgs[s.Org]
		}
		if s.ID != "" {
			set |= r.scoped[scopeKey{s.Kind, s.ID}]
		}
	}
	return set
}

// Editor is the event editor of the caller's changes.
func (c Caller) Editor() eventstore.Editor {
	client := c.ClientID
	if client == "" {
		client = "api"
	}
	return eventstore.Editor{UserID: c.UserID, ClientID: client, SessionID: c.SessionID}
}

// Can reports whether the caller holds p on s. A role on the instance
// holds on every organization, project and project grant in it; a role on
// an organization holds on its projects and on the grants it received.
func (c Caller) Can(p Permission, s Scope) bool { return c.On(s).Has(p) }

// Require is Can as an error: failure.PermissionDenied naming the
// permission and the scope.
func (c Caller) Require(p Permission, s Scope) error {
	if c.Can(p, s) {
		return nil
	}
	return failure.PermissionDenied("missing permission %s on %s", p, s)
}

// RequireAll refuses, naming what is missing, unless the caller holds
// every permission of need on s. It is the rule for giving and taking
// roles and for defining custom ones: nobody hands out (or takes away) a
// permission it does not hold itself on that scope.
func (c Caller) RequireAll(need Set, s Scope, what string) error {
	missing := need &^ c.On(s)
	if missing == 0 {
		return nil
	}
	return failure.PermissionDenied("%s needs %s on %s, which you do not hold", what, strings.Join(missing.Strings(), ", "), s)
}

// CanAnywhere reports whether the caller holds p on the instance or on any
// organization, project or project grant — for instance-wide objects that
// organization administrators may read, such as user types.
func (c Caller) CanAnywhere(p Permission) bool { return c.sets().anywhere.Has(p) }
