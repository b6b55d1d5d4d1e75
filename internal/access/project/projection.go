package project

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

const tables = `CREATE TABLE project_roles (instance_id TEXT NOT NULL, project_id TEXT NOT NULL, role_key TEXT NOT NULL, display_name TEXT NOT NULL,
	role_group TEXT NOT NULL, PRIMARY KEY (instance_id, project_id, role_key));
CREATE TABLE project_settings (instance_id TEXT NOT NULL, project_id TEXT NOT NULL, assert_roles BOOLEAN NOT NULL, require_authorization BOOLEAN NOT NULL,
	require_org_access BOOLEAN NOT NULL, PRIMARY KEY (instance_id, project_id));
CREATE TABLE project_grants (instance_id TEXT NOT NULL, grant_id TEXT NOT NULL, project_id TEXT NOT NULL, owner_org_id TEXT NOT NULL,
	granted_org_id TEXT NOT NULL, roles TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, grant_id));
CREATE UNIQUE INDEX project_grants_project ON project_grants (instance_id, project_id, granted_org_id);
CREATE INDEX project_grants_granted ON project_grants (instance_id, granted_org_id);
CREATE TABLE project_grant_roles (instance_id TEXT NOT NULL, grant_id TEXT NOT NULL, role_key TEXT NOT NULL, PRIMARY KEY (instance_id, grant_id, role_key));
CREATE TABLE authorizations (instance_id TEXT NOT NULL, authorization_id TEXT NOT NULL, user_id TEXT NOT NULL, group_id TEXT NOT NULL DEFAULT '',
	project_id TEXT NOT NULL, grant_id TEXT NOT NULL, org_id TEXT NOT NULL, roles TEXT NOT NULL, sequence BIGINT NOT NULL, created_at BIGINT NOT NULL,
	changed_at BIGINT NOT NULL, PRIMARY KEY (instance_id, authorization_id));
CREATE INDEX authorizations_user ON authorizations (instance_id, user_id, project_id);
CREATE INDEX authorizations_group ON authorizations (instance_id, group_id, project_id);
CREATE INDEX authorizations_project ON authorizations (instance_id, project_id, grant_id);
CREATE INDEX authorizations_org ON authorizations (instance_id, org_id);
CREATE TABLE authorization_roles (instance_id TEXT NOT NULL, project_id TEXT NOT NULL, role_key TEXT NOT NULL, user_id TEXT NOT NULL,
	grant_id TEXT NOT NULL, authorization_id TEXT NOT NULL, org_id TEXT NOT NULL, PRIMARY KEY (instance_id, project_id, role_key, user_id));
CREATE INDEX authorization_roles_user ON authorization_roles (instance_id, user_id, role_key);
CREATE UNIQUE INDEX authorization_roles_user_project ON authorization_roles (instance_id, user_id, project_id, role_key);
CREATE INDEX authorization_roles_authorization ON authorization_roles (instance_id, authorization_id);
CREATE TABLE group_authorization_roles (instance_id TEXT NOT NULL, project_id TEXT NOT NULL, role_key TEXT NOT NULL, group_id TEXT NOT NULL,
	grant_id TEXT NOT NULL, authorization_id TEXT NOT NULL, org_id TEXT NOT NULL, PRIMARY KEY (instance_id, project_id, role_key, group_id));
CREATE INDEX group_authorization_roles_group ON group_authorization_roles (instance_id, group_id, project_id);
CREATE INDEX group_authorization_roles_authorization ON group_authorization_roles (instance_id, authorization_id);`

// Migrations create the read models: roles, settings and grants of
// projects, and authorizations — each authorization's roles in force also
// one row per role (authorization_roles), so that a decision is one
// primary-key read. The projection keeps those rows in force: removing a
// role from a project or a grant deletes them, and an authorization's
// event writes only the roles in force when it applies.
var Migrations = []database.Migration{{Name: "project/0001_access", SQLite: tables, Postgres: tables}}

// Projection keeps the read models.
type Projection struct{}

func (Projection) Name() string { return "project_access" }

func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&RoleAdded{}, &RoleChanged{}, &RoleRemoved{}, &SettingsSet{}, &GrantAdded{}, &GrantChanged{}, &GrantRemoved{},
		&AuthorizationAdded{}, &AuthorizationChanged{}, &AuthorizationRemoved{}, &org.Removed{}, &user.Deleted{}, &group.Removed{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	for _, t := range []string{"project_roles", "project_settings", "project_grants", "project_grant_roles", "authorizations", "authorization_roles",
		"group_authorization_roles"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return err
		}
	}
	return nil
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a, at := e.Aggregate, e.CreatedAt.Unix()
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	if a.Type == AggregateType {
		// The project's sequence in package client's read model follows
		// every event of the aggregate, these included: its commands
		// expect it.
		if err := exec(`UPDATE projects SET sequence = $1 WHERE instance_id = $2 AND project_id = $3`, e.Sequence, a.InstanceID, a.ID); err != nil {
			return err
		}
	}
	switch p := e.Payload.(type) {
	case *RoleAdded:
		return exec(`INSERT INTO project_roles (instance_id, project_id, role_key, display_name, role_group) VALUES ($1, $2, $3, $4, $5)`,
			a.InstanceID, a.ID, p.Key, p.DisplayName, p.Group)
	case *RoleChanged:
		return exec(`UPDATE project_roles SET display_name = $1, role_group = $2 WHERE instance_id = $3 AND project_id = $4 AND role_key = $5`,
			p.DisplayName, p.Group, a.InstanceID, a.ID, p.Key)
	case *RoleRemoved:
		if err := exec(`DELETE FROM project_roles WHERE instance_id = $1 AND project_id = $2 AND role_key = $3`, a.InstanceID, a.ID, p.Key); err != nil {
			return err
		}
		if err := exec(`DELETE FROM authorization_roles WHERE instance_id = $1 AND project_id = $2 AND role_key = $3`, a.InstanceID, a.ID, p.Key); err != nil {
			return err
		}
		return exec(`DELETE FROM group_authorization_roles WHERE instance_id = $1 AND project_id = $2 AND role_key = $3`, a.InstanceID, a.ID, p.Key)
	case *SettingsSet:
		return exec(`INSERT INTO project_settings (instance_id, project_id, assert_roles, require_authorization, require_org_access) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, project_id) DO UPDATE SET assert_roles = excluded.assert_roles, require_authorization = excluded.require_authorization,
	require_org_access = excluded.require_org_access`, a.InstanceID, a.ID, p.AssertRoles, p.RequireAuthorization, p.RequireOrgAccess)
	case *GrantAdded:
		if err := exec(`INSERT INTO project_grants (instance_id, grant_id, project_id, owner_org_id, granted_org_id, roles, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			a.InstanceID, p.GrantID, a.ID, a.Owner, p.GrantedOrgID, rolesJSON(p.Roles), at); err != nil {
			return err
		}
		return grantRoles(ctx, tx, a.InstanceID, p.GrantID, p.Roles)
	case *GrantChanged:
		if err := exec(`UPDATE project_grants SET roles = $1 WHERE instance_id = $2 AND grant_id = $3`, rolesJSON(p.Roles), a.InstanceID, p.GrantID); err != nil {
			return err
		}
		if err := grantRoles(ctx, tx, a.InstanceID, p.GrantID, p.Roles); err != nil {
			return err
		}
		// The roles the grant lost are no longer held under it.
		for _, t := range []string{"authorization_roles", "group_authorization_roles"} {
			if err := exec(`DELETE FROM `+t+` WHERE instance_id = $1 AND grant_id = $2 AND NOT EXISTS
	(SELECT 1 FROM project_grant_roles gr WHERE gr.instance_id = $1 AND gr.grant_id = $2 AND gr.role_key = `+t+`.role_key)`, a.InstanceID, p.GrantID); err != nil {
				return err
			}
		}
		return nil
	case *GrantRemoved:
		if err := exec(`DELETE FROM project_grants WHERE instance_id = $1 AND grant_id = $2`, a.InstanceID, p.GrantID); err != nil {
			return err
		}
		if err := exec(`DELETE FROM authorization_roles WHERE instance_id = $1 AND grant_id = $2`, a.InstanceID, p.GrantID); err != nil {
			return err
		}
		if err := exec(`DELETE FROM group_authorization_roles WHERE instance_id = $1 AND grant_id = $2`, a.InstanceID, p.GrantID); err != nil {
			return err
		}
		return grantRoles(ctx, tx, a.InstanceID, p.GrantID, nil)
	case *AuthorizationAdded:
		if err := exec(`INSERT INTO authorizations (instance_id, authorization_id, user_id, group_id, project_id, grant_id, org_id, roles, sequence, created_at, changed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`, a.InstanceID, a.ID, p.UserID, p.GroupID, p.ProjectID, p.GrantID, a.Owner, rolesJSON(p.Roles), e.Sequence, at); err != nil {
			return err
		}
		return authorizationRoles(ctx, tx, a.InstanceID, a.ID, Subject{UserID: p.UserID, GroupID: p.GroupID}, p.ProjectID, p.GrantID, a.Owner, p.Roles)
	case *AuthorizationChanged:
		var s Subject
		var projectID, grantID string
		if err := tx.QueryRowContext(ctx, `SELECT user_id, group_id, project_id, grant_id FROM authorizations WHERE instance_id = $1 AND authorization_id = $2`,
			a.InstanceID, a.ID).Scan(&s.UserID, &s.GroupID, &projectID, &grantID); err != nil {
			return fmt.Errorf("authorization %s: %w", a.ID, err)
		}
		if err := exec(`UPDATE authorizations SET roles = $1, sequence = $2, changed_at = $3 WHERE instance_id = $4 AND authorization_id = $5`,
			rolesJSON(p.Roles), e.Sequence, at, a.InstanceID, a.ID); err != nil {
			return err
		}
		return authorizationRoles(ctx, tx, a.InstanceID, a.ID, s, projectID, grantID, a.Owner, p.Roles)
	case *AuthorizationRemoved:
		if err := exec(`DELETE FROM authorizations WHERE instance_id = $1 AND authorization_id = $2`, a.InstanceID, a.ID); err != nil {
			return err
		}
		if err := exec(`DELETE FROM authorization_roles WHERE instance_id = $1 AND authorization_id = $2`, a.InstanceID, a.ID); err != nil {
			return err
		}
		return exec(`DELETE FROM group_authorization_roles WHERE instance_id = $1 AND authorization_id = $2`, a.InstanceID, a.ID)
	case *group.Removed:
		// A removed group's authorizations end with it.
		if err := exec(`DELETE FROM group_authorization_roles WHERE instance_id = $1 AND group_id = $2`, a.InstanceID, a.ID); err != nil {
			return err
		}
		return exec(`DELETE FROM authorizations WHERE instance_id = $1 AND group_id = $2`, a.InstanceID, a.ID)
	case *org.Removed:
		// A removed organization's grants and the authorizations it
		// managed end with it.
		for _, q := range []string{
			`DELETE FROM project_grant_roles WHERE instance_id = $1 AND grant_id IN (SELECT grant_id FROM project_grants WHERE instance_id = $1 AND granted_org_id = $2)`,
			`DELETE FROM project_grants WHERE instance_id = $1 AND granted_org_id = $2`,
			`DELETE FROM authorization_roles WHERE instance_id = $1 AND authorization_id IN (SELECT authorization_id FROM authorizations WHERE instance_id = $1 AND org_id = $2)`,
			`DELETE FROM group_authorization_roles WHERE instance_id = $1 AND org_id = $2`,
			`DELETE FROM authorizations WHERE instance_id = $1 AND org_id = $2`,
		} {
			if err := exec(q, a.InstanceID, a.ID); err != nil {
				return err
			}
		}
		return nil
	case *user.Deleted:
		if err := exec(`DELETE FROM authorization_roles WHERE instance_id = $1 AND user_id = $2`, a.InstanceID, a.ID); err != nil {
			return err
		}
		return exec(`DELETE FROM authorizations WHERE instance_id = $1 AND user_id = $2 AND group_id = ''`, a.InstanceID, a.ID)
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}

func rolesJSON(roles []string) string {
	if roles == nil {
		roles = []string{}
	}
	b, _ := json.Marshal(roles)
	return string(b)
}

func grantRoles(ctx context.Context, tx *database.Tx, instanceID, grantID string, roles []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM project_grant_roles WHERE instance_id = $1 AND grant_id = $2`, instanceID, grantID); err != nil {
		return err
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO project_grant_roles (instance_id, grant_id, role_key) VALUES ($1, $2, $3)`, instanceID, grantID, r); err != nil {
			return err
		}
	}
	return nil
}

// authorizationRoles writes the rows of an authorization's roles that are
// in force when its event is applied: a role the project no longer has,
// or that its grant no longer holds, gets no row. Events apply in log
// order, so a replay writes the same rows. A group's roles go to
// group_authorization_roles.
func authorizationRoles(ctx context.Context, tx *database.Tx, instanceID, authorizationID string, s Subject, projectID, grantID, orgID string, roles []string) error {
	table, col, subject := "authorization_roles", "user_id", s.UserID
	if s.GroupID != "" {
		table, col, subject = "group_authorization_roles", "group_id", s.GroupID
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE instance_id = $1 AND authorization_id = $2`, instanceID, authorizationID); err != nil {
		return err
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (instance_id, project_id, role_key, `+col+`, grant_id, authorization_id, org_id)
SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM project_roles WHERE instance_id = $1 AND project_id = $2 AND role_key = $3)
	AND ($5 = '' OR EXISTS (SELECT 1 FROM project_grant_roles WHERE instance_id = $1 AND grant_id = $5 AND role_key = $3))`,
			instanceID, projectID, r, subject, grantID, authorizationID, orgID); err != nil {
			return err
		}
	}
	return nil
}
