// Package member owns the administrators of an instance and of its
// organizations: who holds which roles (package authz's catalogue) on which
// scope. It is the only writer of membership events and the only reader of
// the members table.
//
// Memberships are events on the aggregate they administer: the instance's
// (instance.member.added/removed, payloads of package instance, since they
// move the instance's sequence) and an organization's (org.member.added/
// removed, this package's). Projection keeps the members table from them;
// removing an organization or deleting a user drops their memberships.
//
// LoadCaller turns a user into an authz.Caller with its roles, for package
// authn. The rules that guard the instance's owners (RequireOwnerRemains,
// RequireCoversOrgUsers) live here because they are questions about
// memberships; commands of other packages ask them before a change that
// ends a user's or an organization's activity.
package member
