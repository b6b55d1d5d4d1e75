package project

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Reads give an authorization's roles in force (the project's, and the
// grant's under a grant): a role removed while an authorization holding it
// was being written never takes effect, even though the authorization's
// own events still name it. Listings intersect an authorization's roles
// with those; decisions read authorization_roles, which the projection
// keeps in force.

// ListRoles returns a project's roles by key.
func ListRoles(ctx context.Context, db *database.DB, instanceID, projectID string) ([]Role, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT role_key, display_name, role_group FROM project_roles WHERE instance_id = $1 AND project_id = $2 ORDER BY role_key`,
		instanceID, projectID)
	if err != nil {
		return nil, fmt.Errorf("project: roles: %w", err)
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		var r Role
		if err := rows.Scan(&r.Key, &r.DisplayName, &r.Group); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// GetSettings returns a project's access settings (all off until set).
func GetSettings(ctx context.Context, db *database.DB, instanceID, projectID string) (Settings, error) {
	var s Settings
	err := db.ReadQueryRow(ctx, `SELECT assert_roles, require_authorization, require_org_access FROM project_settings WHERE instance_id = $1 AND project_id = $2`,
		instanceID, projectID).Scan(&s.AssertRoles, &s.RequireAuthorization, &s.RequireOrgAccess)
	if errors.Is(err, sql.ErrNoRows) {
		return Settings{}, nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("project: settings: %w", err)
	}
	return s, nil
}

const selectGrant = `SELECT grant_id, project_id, owner_org_id, granted_org_id, roles, created_at FROM project_grants`

func scanGrant(row interface{ Scan(...any) error }) (Grant, error) {
	var g Grant
	var roles string
	var created int64
	if err := row.Scan(&g.ID, &g.ProjectID, &g.OwnerOrgID, &g.GrantedOrgID, &roles, &created); err != nil {
		return Grant{}, err
	}
	if err := json.Unmarshal([]byte(roles), &g.Roles); err != nil {
		return Grant{}, fmt.Errorf("project: roles of grant %s: %w", g.ID, err)
	}
	g.CreatedAt = time.Unix(created, 0).UTC()
	return g, nil
}

// GetGrant returns a project grant, or failure.NotFound.
func GetGrant(ctx context.Context, db *database.DB, instanceID, grantID string) (Grant, error) {
	g, err := scanGrant(db.Reader().QueryRowContext(ctx, selectGrant+` WHERE instance_id = $1 AND grant_id = $2`, instanceID, grantID))
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, failure.NotFound("project grant %.64q not found", grantID)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("project: grant: %w", err)
	}
	return g, nil
}

// ListGrants returns the grants of a project (projectID set) or the
// grants an organization received (grantedOrgID set), by id.
func ListGrants(ctx context.Context, db *database.DB, instanceID, projectID, grantedOrgID string) ([]Grant, error) {
	q, arg := selectGrant+` WHERE instance_id = $1 AND project_id = $2 ORDER BY grant_id`, projectID
	if projectID == "" {
		q, arg = selectGrant+` WHERE instance_id = $1 AND granted_org_id = $2 ORDER BY grant_id`, grantedOrgID
	}
	rows, err := db.Reader().QueryContext(ctx, q, instanceID, arg)
	if err != nil {
		return nil, fmt.Errorf("project: grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// GrantOf returns the grant of a project to an organization, or
// failure.NotFound.
func GrantOf(ctx context.Context, db *database.DB, instanceID, projectID, orgID string) (Grant, error) {
	g, err := scanGrant(db.Reader().QueryRowContext(ctx, selectGrant+` WHERE instance_id = $1 AND project_id = $2 AND granted_org_id = $3`,
		instanceID, projectID, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, failure.NotFound("project %.64q is not granted to organization %.64q", projectID, orgID)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("project: grant: %w", err)
	}
	return g, nil
}

const selectAuthorization = `SELECT authorization_id, user_id, group_id, project_id, grant_id, org_id, roles, sequence, created_at, changed_at FROM authorizations`

func scanAuthorization(row interface{ Scan(...any) error }) (Authorization, error) {
	var a Authorization
	var roles string
	var created, changed int64
	if err := row.Scan(&a.ID, &a.UserID, &a.GroupID, &a.ProjectID, &a.GrantID, &a.OrgID, &roles, &a.sequence, &created, &changed); err != nil {
		return Authorization{}, err
	}
	if err := json.Unmarshal([]byte(roles), &a.Roles); err != nil {
		return Authorization{}, fmt.Errorf("project: roles of authorization %s: %w", a.ID, err)
	}
	a.CreatedAt, a.ChangedAt = time.Unix(created, 0).UTC(), time.Unix(changed, 0).UTC()
	return a, nil
}

func getAuthorization(ctx context.Context, db *database.DB, instanceID, authorizationID string) (Authorization, error) {
	a, err := scanAuthorization(db.Reader().QueryRowContext(ctx, selectAuthorization+` WHERE instance_id = $1 AND authorization_id = $2`, instanceID, authorizationID))
	if errors.Is(err, sql.ErrNoRows) {
		return Authorization{}, failure.NotFound("authorization %.64q not found", authorizationID)
	}
	if err != nil {
		return Authorization{}, fmt.Errorf("project: authorization: %w", err)
	}
	return a, nil
}

// GetAuthorization returns an authorization with the roles in force, or
// failure.NotFound.
func GetAuthorization(ctx context.Context, db *database.DB, instanceID, authorizationID string) (Authorization, error) {
	a, err := getAuthorization(ctx, db, instanceID, authorizationID)
	if err != nil {
		return Authorization{}, err
	}
	list, err := inForce(ctx, db, instanceID, []Authorization{a})
	if err != nil {
		return Authorization{}, err
	}
	return list[0], nil
}

// Scope is the scope an authorization is administered on: its project's
// (for the owner's users) or its grant's (for the granted organization's).
func (a Authorization) Scope(projectOrg string) authz.Scope {
	if a.GrantID != "" {
		return authz.ProjectGrant(a.GrantID, a.OrgID)
	}
	return authz.Project(a.ProjectID, projectOrg)
}

// AuthorizationFilter selects authorizations; every set field must match.
type AuthorizationFilter struct {
	UserID    string
	GroupID   string
	ProjectID string
	// GrantID, when not nil, selects the authorizations under one grant
	// ("" for those of the project's own organization).
	GrantID *string
	OrgID   string
}

// maxList bounds a listing.
const maxList = 1000

// ListAuthorizations returns the authorizations a filter selects (at most
// limit, or maxList when limit is 0), by id, with the roles in force.
func ListAuthorizations(ctx context.Context, db *database.DB, instanceID string, f AuthorizationFilter, limit int) ([]Authorization, error) {
	list, err := listAuthorizations(ctx, db, instanceID, f, limit)
	if err != nil {
		return nil, err
	}
	return inForce(ctx, db, instanceID, list)
}

func listAuthorizations(ctx context.Context, db *database.DB, instanceID string, f AuthorizationFilter, limit int) ([]Authorization, error) {
	var where []string
	args := []any{instanceID}
	add := func(col, v string) {
		args = append(args, v)
		where = append(where, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if f.UserID != "" {
		add("user_id", f.UserID)
	}
	if f.GroupID != "" {
		add("group_id", f.GroupID)
	}
	if f.ProjectID != "" {
		add("project_id", f.ProjectID)
	}
	if f.GrantID != nil {
		add("grant_id", *f.GrantID)
	}
	if f.OrgID != "" {
		add("org_id", f.OrgID)
	}
	q := selectAuthorization + ` WHERE instance_id = $1`
	for _, w := range where {
		q += " AND " + w
	}
	if limit <= 0 {
		limit = maxList
	}
	q += fmt.Sprintf(" ORDER BY authorization_id LIMIT %d", limit)
	rows, err := db.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("project: authorizations: %w", err)
	}
	defer rows.Close()
	var out []Authorization
	for rows.Next() {
		a, err := scanAuthorization(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// inForce intersects each authorization's roles with its project's roles
// and its grant's.
func inForce(ctx context.Context, db *database.DB, instanceID string, list []Authorization) ([]Authorization, error) {
	projects := map[string][]string{}
	grantRoles := map[string][]string{}
	for i, a := range list {
		roles, ok := projects[a.ProjectID]
		if !ok {
			rs, err := ListRoles(ctx, db, instanceID, a.ProjectID)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				roles = append(roles, r.Key)
			}
			projects[a.ProjectID] = roles
		}
		keep := func(k string) bool { return slices.Contains(roles, k) }
		if a.GrantID != "" {
			gr, ok := grantRoles[a.GrantID]
			if !ok {
				g, err := GetGrant(ctx, db, instanceID, a.GrantID)
				if err != nil && !failure.Is(err, failure.KindNotFound) {
					return nil, err
				}
				gr = g.Roles
				if gr == nil {
					gr = []string{}
				}
				grantRoles[a.GrantID] = gr
			}
			keep = func(k string) bool { return slices.Contains(roles, k) && slices.Contains(gr, k) }
		}
		list[i].Roles, _ = without(a.Roles, func(k string) bool { return !keep(k) })
	}
	return list, nil
}

// HasRole reports whether a user holds a role of a project, through an
// authorization of the project's own organization or of a grant: one
// primary-key read of a role in force. It does not ask whether the
// user may still sign in.
func HasRole(ctx context.Context, db *database.DB, instanceID, userID, projectID, role string) (bool, error) {
	var one int
	err := db.ReadQueryRow(ctx, `SELECT 1 FROM authorization_roles ar
WHERE ar.instance_id = $1 AND ar.project_id = $2 AND ar.role_key = $3 AND ar.user_id = $4
UNION ALL SELECT 1 FROM group_users gu JOIN group_authorization_roles gar
	ON gar.instance_id = gu.instance_id AND gar.project_id = $2 AND gar.role_key = $3 AND gar.group_id = gu.group_id
WHERE gu.instance_id = $1 AND gu.user_id = $4 LIMIT 1`, instanceID, projectID, role, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("project: decide: %w", err)
	}
	return true, nil
}

// Held is a role a user holds, and the organization whose authorization
// gives it (the project's owner, or the granted organization).
type Held struct {
	Role  string
	OrgID string
}

// RolesOf returns the roles a user holds in each of projects, in force,
// by key: one read over the user's rows of authorization_roles, prepared
// once per number of projects (callers ask for at most a few).
func RolesOf(ctx context.Context, db *database.DB, instanceID, userID string, projects []string) (map[string][]Held, error) {
	out := map[string][]Held{}
	if len(projects) == 0 {
		return out, nil
	}
	args := []any{instanceID, userID}
	in := ""
	for i, p := range projects {
		if i > 0 {
			in += ", "
		}
		args = append(args, p)
		in += fmt.Sprintf("$%d", len(args))
	}
	rows, err := db.ReadQuery(ctx, `SELECT ar.project_id, ar.role_key, ar.org_id FROM authorization_roles ar
WHERE ar.instance_id = $1 AND ar.user_id = $2 AND ar.project_id IN (`+in+`)
UNION SELECT gar.project_id, gar.role_key, gar.org_id FROM group_users gu JOIN group_authorization_roles gar
	ON gar.instance_id = gu.instance_id AND gar.group_id = gu.group_id AND gar.project_id IN (`+in+`)
WHERE gu.instance_id = $1 AND gu.user_id = $2 ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, fmt.Errorf("project: roles of %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		var h Held
		if err := rows.Scan(&p, &h.Role, &h.OrgID); err != nil {
			return nil, err
		}
		out[p] = append(out[p], h)
	}
	return out, rows.Err()
}

// UsersWithRole returns the users holding a role of a project, in force,
// by id after after, at most limit.
func UsersWithRole(ctx context.Context, db *database.DB, instanceID, projectID, role, after string, limit int) ([]string, error) {
	return column(ctx, db, `SELECT ar.user_id FROM authorization_roles ar WHERE ar.instance_id = $1 AND ar.project_id = $2 AND ar.role_key = $3 AND ar.user_id > $4
UNION SELECT gu.user_id FROM group_authorization_roles gar JOIN group_users gu ON gu.instance_id = gar.instance_id AND gu.group_id = gar.group_id
WHERE gar.instance_id = $1 AND gar.project_id = $2 AND gar.role_key = $3 AND gu.user_id > $4
	ORDER BY 1 LIMIT `+fmt.Sprint(limit), instanceID, projectID, role, after)
}

// Holder is a user holding a role, and the grant (and granted
// organization) its authorization is under; GrantID is empty for the
// project's own organization.
type Holder struct {
	UserID, GrantID, OrgID string
}

// HoldersOfRole is UsersWithRole with each holding's grant, for callers
// that may see only some of them. A user holding the role twice (its own
// authorization and a group's) appears once per grant.
func HoldersOfRole(ctx context.Context, db *database.DB, instanceID, projectID, role, after string, limit int) ([]Holder, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT ar.user_id, ar.grant_id, ar.org_id FROM authorization_roles ar
WHERE ar.instance_id = $1 AND ar.project_id = $2 AND ar.role_key = $3 AND ar.user_id > $4
UNION SELECT gu.user_id, gar.grant_id, gar.org_id FROM group_authorization_roles gar JOIN group_users gu ON gu.instance_id = gar.instance_id AND gu.group_id = gar.group_id
WHERE gar.instance_id = $1 AND gar.project_id = $2 AND gar.role_key = $3 AND gu.user_id > $4
	ORDER BY 1, 2 LIMIT `+fmt.Sprint(limit), instanceID, projectID, role, after)
	if err != nil {
		return nil, fmt.Errorf("project: holders: %w", err)
	}
	defer rows.Close()
	var out []Holder
	for rows.Next() {
		var h Holder
		if err := rows.Scan(&h.UserID, &h.GrantID, &h.OrgID); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// ProjectsWithRole returns the projects where a user holds a role (by
// key), in force, by id after after, at most limit.
func ProjectsWithRole(ctx context.Context, db *database.DB, instanceID, userID, role, after string, limit int) ([]string, error) {
	return column(ctx, db, `SELECT ar.project_id FROM authorization_roles ar WHERE ar.instance_id = $1 AND ar.user_id = $2 AND ar.role_key = $3 AND ar.project_id > $4
UNION SELECT gar.project_id FROM group_users gu JOIN group_authorization_roles gar ON gar.instance_id = gu.instance_id AND gar.group_id = gu.group_id
WHERE gu.instance_id = $1 AND gu.user_id = $2 AND gar.role_key = $3 AND gar.project_id > $4
	ORDER BY 1 LIMIT `+fmt.Sprint(limit), instanceID, userID, role, after)
}

func column(ctx context.Context, db *database.DB, q string, args ...any) ([]string, error) {
	out, err := database.Strings(db.Reader().QueryContext(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("project: search: %w", err)
	}
	return out, nil
}
