// Package authz decides what an authenticated caller may do: the published
// catalogue of named permissions (Catalogue), the built-in administrator
// roles that bundle them (Roles) and an instance's custom ones (RoleBook),
// the scopes they are held on (the instance, an organization, a project, a
// project grant), and the pure decisions over a Caller — "may this caller
// do P on scope S" (Caller.Require), "does it hold all of these on S"
// (Caller.RequireAll, the rule for giving and taking roles), and "does
// this caller hold everything that user holds" (Caller.Covers, the rule
// against escalation through another account).
//
// It reads nothing: package member keeps who holds which roles and builds
// a Caller from them, resolved (Caller.Resolve) to one permission Set per
// scope, so that a decision is a map read and a bit test; package authn
// turns a credential into that Caller and keeps it in memory. A role on
// the instance applies to every organization, project and grant in it; a
// role on an organization applies to it, its projects and the grants it
// received; a role on a project or grant applies there only. Every RPC
// names the permission it needs and the scope it touches, and calls
// Caller.Require before doing anything. docs/administrators.md tells the
// whole model.
package authz
