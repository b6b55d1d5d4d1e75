package authz

import "github.com/castellan-iam/castellan/internal/failure"

// The rule against escalation through another account. An administrator
// that may change another user's credentials (password, personal access
// tokens, machine keys, and every authenticator to come), identifiers
// (login name), contact data (email, phone) or state (lock, deactivate,
// delete) could otherwise take that account over and act with its
// permissions. So a caller may do so only when the target holds no
// permission the caller lacks, in any scope: on the instance, and on every
// organization (and, as they come, every project and project grant).
//
// The rule is computed from the permission catalogue, not from role names,
// so a new role or scope is covered as soon as it is in the catalogue.
// Keycloak and ZITADEL call it "cannot manage a user with higher
// privileges"; it is stricter than comparing roles by rank, because two
// roles that grant different permissions cannot manage each other.

// Covers reports whether c holds every permission target holds, in the same
// scope or through a wider one (an instance role covers every
// organization). A caller always covers itself; nobody covers a user of
// another instance.
func (c Caller) Covers(target Caller) bool {
	if c.InstanceID != target.InstanceID {
		return false
	}
	if c.UserID != "" && c.UserID == target.UserID {
		return true
	}
	t := target.sets()
	if !c.On(Instance()).Contains(t.instance) {
		return false
	}
	for o, set := range t.orgs {
		if !c.On(Org(o)).Contains(set) {
			return false
		}
	}
	for _, m := range target.Scoped {
		if !c.On(m.Scope).Contains(t.scoped[scopeKey{m.Scope.Kind, m.Scope.ID}]) {
			return false
		}
	}
	return true
}

// RequireCovers is Covers as an error: failure.PermissionDenied when the
// target holds a permission the caller lacks. The message does not say
// which: a caller may not otherwise be able to read the target's
// memberships.
func (c Caller) RequireCovers(target Caller) error {
	if c.Covers(target) {
		return nil
	}
	return failure.PermissionDenied("user %s holds permissions you do not hold; only an administrator holding all of them may change its credentials, login name, contact data or state", target.UserID)
}
