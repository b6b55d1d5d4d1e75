// Package project owns the access model of projects: their roles, their
// access settings, their grants to other organizations (delegation), and
// the authorizations of users and groups under them — which subject holds
// which roles of a project. The project aggregate itself (its first event
// and its applications) belongs to package oauth/client; the events here
// are on that aggregate (roles, settings, grants) and on one aggregate per
// authorization, owned by the organization that manages it.
//
// Rules: a role key is letters, digits and _ . : - (≤ 100), at most 500
// per project. A project is granted once per organization, never to its
// owner. An authorization of the project holds project roles for a
// subject of the owning organization; one under a grant holds the grant's
// roles for a subject of the granted organization; one per subject and
// project. Removing a role, shrinking or revoking a grant cascade to the
// authorizations as their own events in the same push (at most 10,000).
//
// Read models (projection.go): project_roles, project_settings,
// project_grants (+ project_grant_roles), authorizations, and one row per
// role in force (authorization_roles, group_authorization_roles), kept in
// force by the projection so that a decision (HasRole) is one primary-key
// read. claims.go decides whether a user may get tokens of a project's
// applications (MayUse) and the role claims they carry (TokenClaims).
// docs/access.md tells the whole model and its decisions.
package project
