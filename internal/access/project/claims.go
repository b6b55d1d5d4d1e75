package project

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

// Roles in tokens. What a client gets:
//
//   - The roles of its own project when the project asserts them
//     (Settings.AssertRoles) or the client asks with the scope
//     urn:castellan:project:roles.
//   - The roles of another project of the instance when it asks with the
//     scope urn:castellan:project:{id}:roles; that project's id joins the
//     access token's audience, so its resource servers accept the token.
//     A project the instance does not have gives no roles, not an error.
//
// Format (per application): nested, the default —
//
//	"urn:castellan:project:roles": {"purchase_admin": {"<org id>": "<org primary domain>"}}
//
// where each role maps to the organizations whose authorization gives it
// (the project's owner, or the organization it was granted to), or flat —
//
//	"roles": ["purchase_admin"]
//
// (RFC 9068 section 2.2.3.1). Another project's roles go in
// urn:castellan:project:{id}:roles, in the application's format. Both
// names are reserved: a user's traits cannot feed them (package
// userschema). A client asks for at most maxRoleScopes other projects.

// ScopeRoles asks for the roles of the client's own project.
const ScopeRoles = "urn:castellan:project:roles"

// Claim names.
const (
	ClaimRoles     = "urn:castellan:project:roles"
	ClaimFlatRoles = "roles"
	claimPrefix    = "urn:castellan:project:"
	claimSuffix    = ":roles"
	maxRoleScopes  = 10
)

// RolesScope asks for the roles of project id.
func RolesScope(id string) string { return claimPrefix + id + claimSuffix }

// projectOfScope returns the project a scope asks the roles of: "" for
// ScopeRoles (the client's own), ok false for a scope of another kind.
func projectOfScope(s string) (id string, ok bool) {
	if s == ScopeRoles {
		return "", true
	}
	rest, found := strings.CutPrefix(s, claimPrefix)
	if !found {
		return "", false
	}
	id, found = strings.CutSuffix(rest, claimSuffix)
	if !found || id == "" || len(id) > 64 || strings.ContainsAny(id, ": ") {
		return "", false
	}
	return id, true
}

// IsRoleScope reports whether s asks for roles: any client may ask
// without registering it.
func IsRoleScope(s string) bool {
	_, ok := projectOfScope(s)
	return ok
}

// IsRoleClaim reports whether a claim carries roles: it goes in access
// tokens as well.
func IsRoleClaim(name string) bool {
	return name == ClaimFlatRoles || strings.HasPrefix(name, claimPrefix)
}

// Audience returns the projects other than own whose roles scopes ask
// for: they join the access token's audience.
func Audience(own string, scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if id, ok := projectOfScope(s); ok && id != "" && id != own && !slices.Contains(out, id) && len(out) < maxRoleScopes {
			out = append(out, id)
		}
	}
	return out
}

// TokenClaims decides whether a user may sign in to an application of
// project own (failure.PermissionDenied naming the setting when not), and
// returns the role claims its tokens carry for scopes, in format
// (client.RoleClaimsNested or client.RoleClaimsFlat).
func TokenClaims(ctx context.Context, db *database.DB, instanceID, userID, own, format string, scopes []string) (map[string]any, error) {
	st, err := GetSettings(ctx, db, instanceID, own)
	if err != nil {
		return nil, err
	}
	if err := mayUse(ctx, db, instanceID, userID, own, st); err != nil {
		return nil, err
	}
	assertOwn := st.AssertRoles || slices.Contains(scopes, ScopeRoles) || slices.Contains(scopes, RolesScope(own))
	others := Audience(own, scopes)
	if !assertOwn && len(others) == 0 {
		return nil, nil
	}
	projects := others
	if assertOwn {
		projects = append([]string{own}, others...)
	}
	held, err := RolesOf(ctx, db, instanceID, userID, projects)
	if err != nil {
		return nil, err
	}
	domains := map[string]string{}
	domainOf := func(orgID string) (string, error) {
		if d, ok := domains[orgID]; ok {
			return d, nil
		}
		d, err := org.PrimaryDomain(ctx, db, instanceID, orgID)
		if err != nil {
			return "", err
		}
		domains[orgID] = d
		return d, nil
	}
	out := map[string]any{}
	for _, p := range projects {
		roles := held[p]
		if len(roles) == 0 {
			continue
		}
		name := RolesScope(p)
		if p == own {
			name = ClaimRoles
		}
		if format == client.RoleClaimsFlat {
			if p == own {
				name = ClaimFlatRoles
			}
			var keys []string
			for _, h := range roles {
				keys = append(keys, h.Role)
			}
			out[name] = slices.Compact(slices.Sorted(slices.Values(keys)))
			continue
		}
		nested := map[string]any{}
		for _, h := range roles {
			d, err := domainOf(h.OrgID)
			if err != nil {
				return nil, err
			}
			orgs, _ := nested[h.Role].(map[string]any)
			if orgs == nil {
				orgs = map[string]any{}
				nested[h.Role] = orgs
			}
			orgs[h.OrgID] = d
		}
		out[name] = nested
	}
	return out, nil
}

// MayUse applies a project's sign-in settings to a user:
// failure.PermissionDenied naming the setting when the user may not get
// tokens of the project's applications.
func MayUse(ctx context.Context, db *database.DB, instanceID, userID, projectID string) error {
	st, err := GetSettings(ctx, db, instanceID, projectID)
	if err != nil {
		return err
	}
	return mayUse(ctx, db, instanceID, userID, projectID, st)
}

// mayUse applies a project's sign-in settings to a user.
func mayUse(ctx context.Context, db *database.DB, instanceID, userID, projectID string, st Settings) error {
	if st.RequireAuthorization {
		ok, err := authorized(ctx, db, instanceID, userID, projectID)
		if err != nil {
			return err
		}
		if !ok {
			return failure.PermissionDenied("the project requires an authorization, and the user has none")
		}
	}
	if st.RequireOrgAccess {
		s, err := user.StandingOf(ctx, db, instanceID, userID)
		if err != nil {
			return err
		}
		p, err := client.GetProject(ctx, db, instanceID, projectID)
		if err != nil {
			return err
		}
		if s.OrgID != p.OrgID {
			if _, err := GrantOf(ctx, db, instanceID, projectID, s.OrgID); failure.Is(err, failure.KindNotFound) {
				return failure.PermissionDenied("the project requires the user's organization to have access, and it has none")
			} else if err != nil {
				return err
			}
		}
	}
	return nil
}

// authorized reports whether a user has an authorization for a project,
// its own or through one of its groups.
func authorized(ctx context.Context, db *database.DB, instanceID, userID, projectID string) (bool, error) {
	var one int
	err := db.Reader().QueryRowContext(ctx, `SELECT 1 FROM authorizations WHERE instance_id = $1 AND user_id = $2 AND project_id = $3
UNION ALL SELECT 1 FROM group_users gu JOIN authorizations a ON a.instance_id = gu.instance_id AND a.group_id = gu.group_id AND a.project_id = $3
WHERE gu.instance_id = $1 AND gu.user_id = $2 LIMIT 1`, instanceID, userID, projectID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
