package member

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Member is a user with roles on a scope.
type Member struct {
	UserID string
	Roles  []string
}

// List lists the members of a scope (the instance: InstanceScope(its id);
// an organization: authz.Org(its id); a project or project grant: its
// scope), by user id.
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

// rolesOf returns the roles userID holds on s, nil when none.
func rolesOf(ctx context.Context, db *database.DB, instanceID string, s authz.Scope, userID string) ([]string, error) {
	var rolesJSON string
	err := db.Reader().QueryRowContext(ctx, `SELECT roles FROM members WHERE instance_id = $1 AND user_id = $2 AND scope = $3 AND scope_id = $4`,
		instanceID, userID, string(s.Kind), s.ID).Scan(&rolesJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("member: roles of %s: %w", userID, err)
	}
	var roles []string
	return roles, json.Unmarshal([]byte(rolesJSON), &roles)
}

// CustomRoles lists an instance's custom roles by key.
func CustomRoles(ctx context.Context, db *database.DB, instanceID string) ([]authz.Role, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT role_key, display_name, scope, permissions FROM custom_roles WHERE instance_id = $1 ORDER BY role_key`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("member: custom roles: %w", err)
	}
	defer rows.Close()
	var out []authz.Role
	for rows.Next() {
		var r authz.Role
		var kind, permsJSON string
		if err := rows.Scan(&r.Key, &r.DisplayName, &kind, &permsJSON); err != nil {
			return nil, err
		}
		var perms []authz.Permission
		if err := json.Unmarshal([]byte(permsJSON), &perms); err != nil {
			return nil, fmt.Errorf("member: custom role %s: %w", r.Key, err)
		}
		r.Kind, r.Permissions, r.Custom = authz.ScopeKind(kind), authz.SetOf(perms...), true
		out = append(out, r)
	}
	return out, rows.Err()
}

// RoleBookOf returns the instance's roles: the built-in ones and its
// custom roles.
func RoleBookOf(ctx context.Context, db *database.DB, instanceID string) (authz.RoleBook, error) {
	custom, err := CustomRoles(ctx, db, instanceID)
	if err != nil {
		return authz.RoleBook{}, err
	}
	return authz.NewRoleBook(custom...), nil
}

// customRole returns one custom role, NotFound naming it when the instance
// has none by that key.
func customRole(ctx context.Context, db *database.DB, instanceID, key string) (authz.Role, error) {
	book, err := RoleBookOf(ctx, db, instanceID)
	if err != nil {
		return authz.Role{}, err
	}
	r, ok := book.Lookup(key)
	if !ok || !r.Custom {
		return authz.Role{}, failure.NotFound("custom role %s not found", key)
	}
	return r, nil
}

// LoadCaller returns userID as an authz.Caller with the roles it holds in
// an instance, resolved to permissions through the instance's roles.
func LoadCaller(ctx context.Context, db *database.DB, instanceID, userID string) (authz.Caller, error) {
	book, err := RoleBookOf(ctx, db, instanceID)
	if err != nil {
		return authz.Caller{}, err
	}
	return loadCaller(ctx, db, book, instanceID, userID)
}

func loadCaller(ctx context.Context, db *database.DB, book authz.RoleBook, instanceID, userID string) (authz.Caller, error) {
	ms, err := OfUser(ctx, db, instanceID, userID)
	if err != nil {
		return authz.Caller{}, err
	}
	return CallerFrom(book, instanceID, userID, ms), nil
}

// CallerFrom returns userID as an authz.Caller holding the memberships ms,
// resolved to permissions through book.
func CallerFrom(book authz.RoleBook, instanceID, userID string, ms []authz.Membership) authz.Caller {
	c := authz.Caller{InstanceID: instanceID, UserID: userID, OrgRoles: map[string][]string{}}
	for _, m := range ms {
		switch m.Scope.Kind {
		case authz.ScopeInstance:
			c.InstanceRoles = append(c.InstanceRoles, m.Roles...)
		case authz.ScopeOrg:
			c.OrgRoles[m.Scope.ID] = append(c.OrgRoles[m.Scope.ID], m.Roles...)
		default:
			c.Scoped = append(c.Scoped, m)
		}
	}
	return c.Resolve(book)
}

// heldRole is a membership holding a role, for taking it from all.
type heldRole struct {
	Scope  authz.Scope
	UserID string
	Roles  []string
}

func holdersOf(ctx context.Context, db *database.DB, instanceID, role string) ([]heldRole, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT scope, scope_id, scope_org, user_id, roles FROM members WHERE instance_id = $1 ORDER BY scope, scope_id, user_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("member: holders of %s: %w", role, err)
	}
	defer rows.Close()
	var out []heldRole
	for rows.Next() {
		var h heldRole
		var kind, rolesJSON string
		if err := rows.Scan(&kind, &h.Scope.ID, &h.Scope.Org, &h.UserID, &rolesJSON); err != nil {
			return nil, err
		}
		h.Scope.Kind = authz.ScopeKind(kind)
		if err := json.Unmarshal([]byte(rolesJSON), &h.Roles); err != nil {
			return nil, err
		}
		for _, r := range h.Roles {
			if r == role {
				out = append(out, h)
				break
			}
		}
	}
	return out, rows.Err()
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
