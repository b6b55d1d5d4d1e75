// Package authzen serves the OpenID AuthZEN Authorization API 1.0: a
// policy decision point that applications (policy enforcement points)
// ask "may this subject do this action on this resource?".
//
// Endpoints, on each instance's host:
//
//	GET  /.well-known/authzen-configuration  PDP metadata
//	POST /access/v1/evaluation               one decision
//	POST /access/v1/evaluations              a batch, with defaults and
//	                                         evaluations_semantic
//	POST /access/v1/search/subject           users holding a role of a project
//	POST /access/v1/search/resource          projects where a user holds a role
//	POST /access/v1/search/action            roles a user holds in a project
//
// What maps to what. Subjects are users ({"type": "user", "id": user
// id}). On a project ({"type": "project", "id": project id}) an action
// is a role key of the project: the decision is whether the user, active
// and in an active organization, holds the role in force through an
// authorization (its own organization's or a grant's). On an
// organization ({"type": "organization", "id": org id}) an action is an
// administrator permission of the catalogue (package authz, e.g.
// "user.write"): the decision is whether the user holds it there.
//
// Who may ask. The caller authenticates with a bearer token of the
// management API and must hold authorization.read on the project
// (member.read on the organization) it asks about; asking about one it
// may not read is the same answer as asking about one that does not
// exist — a denial — so nothing can be probed. The subject search lists
// only the holders whose authorizations the caller may read (a granted
// organization's users are its own), though a decision about one named
// user is answered to every reader of the project. A malformed request is 400 with a message naming the field.
//
// Bounds. A body is at most 256 KiB, a batch at most 100 evaluations, a
// search page at most 100 results (the page token is opaque; one that
// does not decode is refused), every identifier at most 256 bytes.
package authzen
