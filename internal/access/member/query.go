package member

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
)

// Member is a user with roles on a scope.
type Member struct {
	UserID string
	Roles  []string
}

// List lists the members of a scope (the instance: InstanceScope(its id);
// an organization: authz.Org(its id)), by user id.
func List(ctx context.Context, db *database.DB, instanceID string, s authz.Scope) ([]Member, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT user_id, roles FROM members WHERE instance_id = $1 AND scope = $2 AND scope_id = $3 ORDER BY user_id`,
		instanceID, string(s.Kind), s.ID)
	if err != nil {
		return nil, fmt.Errorf("member: list: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var roles string
		if err := rows.Scan(&m.UserID, &roles); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(roles), &m.Roles); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// LoadCaller returns userID as an authz.Caller with the roles it holds in
// an instance.
func LoadCaller(ctx context.Context, db *database.DB, instanceID, userID string) (authz.Caller, error) {
	c := authz.Caller{InstanceID: instanceID, UserID: userID, OrgRoles: map[string][]string{}}
	rows, err := db.Reader().QueryContext(ctx, `SELECT scope, scope_id, roles FROM members WHERE instance_id = $1 AND user_id = $2`, instanceID, userID)
	if err != nil {
		return authz.Caller{}, fmt.Errorf("member: roles of %s: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var scope, scopeID, rolesJSON string
		if err := rows.Scan(&scope, &scopeID, &rolesJSON); err != nil {
			return authz.Caller{}, err
		}
		var roles []string
		if err := json.Unmarshal([]byte(rolesJSON), &roles); err != nil {
			return authz.Caller{}, fmt.Errorf("member: roles of %s: %w", userID, err)
		}
		if authz.ScopeKind(scope) == authz.ScopeInstance {
			c.InstanceRoles = append(c.InstanceRoles, roles...)
		} else {
			c.OrgRoles[scopeID] = append(c.OrgRoles[scopeID], roles...)
		}
	}
	return c, rows.Err()
}

// administrators lists the users holding any role in an instance.
func administrators(ctx context.Context, db *database.DB, instanceID string) ([]string, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT DISTINCT user_id FROM members WHERE instance_id = $1 ORDER BY user_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("member: administrators: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
