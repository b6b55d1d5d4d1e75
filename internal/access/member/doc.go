// Package member owns the administrators of an instance, of its
// organizations, projects and project grants: who holds which roles
// (package authz's catalogue, and the instance's custom roles, which this
// package also owns) on which scope. It is the only writer of membership
// and custom role events and the only reader of the members,
// custom_roles and caller_versions tables.
//
// Memberships are events on the aggregate they belong to: the instance's
// (instance.member.added/removed, payloads of package instance, since they
// move the instance's sequence), an organization's (org.member.*), the
// owning organization's for a project (org.project.member.*), and the
// granted organization's for a project grant (org.project_grant.member.*,
// so the granting organization's stream does not learn the grant's
// administrators). Custom roles are events of their own aggregate
// (custom_role.*). Projection keeps the members and custom_roles tables;
// removing an organization or deleting a user drops their memberships.
// It also counts, per instance, every event that can alter an
// authenticated caller (CallerVersion), for the caller cache of package
// authn.
//
// Commands' own methods act for the system (first start, registration).
// Administrator (Commands.By) acts for an authenticated caller and applies
// the rules of administrators acting on administrators (admin.go): the
// caller holds every permission of the roles it gives or takes, on that
// scope, and covers the user it changes. LoadCaller turns a user into an
// authz.Caller, resolved through the instance's roles, for package authn.
// The rules that guard the instance's owners (RequireOwnerRemains,
// RequireCoversOrgUsers) live here because they are questions about
// memberships; commands of other packages ask them before a change that
// ends a user's or an organization's activity.
package member
