package member

import (
	"context"
	"encoding/json"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

// Migrations create the members table (the first keeps the name it was
// first applied under), then add the organization of a project or grant
// membership (scope_org: the project's owner, the grant's granted
// organization), the custom roles, and the callers' count (changes.go).
var Migrations = []database.Migration{{
	Name: "authz/0001_members",
	SQLite: `CREATE TABLE members (instance_id TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL,
	PRIMARY KEY (instance_id, user_id, scope, scope_id));`,
	Postgres: `CREATE TABLE members (instance_id TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL,
	PRIMARY KEY (instance_id, user_id, scope, scope_id));`,
}, {
	Name: "member/0002_scoped_members_custom_roles",
	SQLite: `ALTER TABLE members ADD COLUMN scope_org TEXT NOT NULL DEFAULT '';
CREATE INDEX members_by_scope ON members (instance_id, scope, scope_id);
CREATE INDEX members_by_scope_org ON members (instance_id, scope_org);
CREATE TABLE custom_roles (instance_id TEXT NOT NULL, role_key TEXT NOT NULL, display_name TEXT NOT NULL, scope TEXT NOT NULL, permissions TEXT NOT NULL,
	PRIMARY KEY (instance_id, role_key));
CREATE TABLE caller_versions (instance_id TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL);`,
	Postgres: `ALTER TABLE members ADD COLUMN scope_org TEXT NOT NULL DEFAULT '';
CREATE INDEX members_by_scope ON members (instance_id, scope, scope_id);
CREATE INDEX members_by_scope_org ON members (instance_id, scope_org);
CREATE TABLE custom_roles (instance_id TEXT NOT NULL, role_key TEXT NOT NULL, display_name TEXT NOT NULL, scope TEXT NOT NULL, permissions TEXT NOT NULL,
	PRIMARY KEY (instance_id, role_key));
CREATE TABLE caller_versions (instance_id TEXT NOT NULL PRIMARY KEY, version BIGINT NOT NULL);`,
}}

// Projection keeps the members and custom_roles tables, and the callers'
// count (caller_versions, changes.go).
type Projection struct{}

func (Projection) Name() string { return "members" }

// Version 2: project and project grant memberships, custom roles.
func (Projection) Version() int { return 2 }

// EventTypes are the membership and custom role events, and every other
// event the callers' count counts (CallerChangeTypes, changes.go).
func (Projection) EventTypes() []string { return CallerChangeTypes() }

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM members`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM custom_roles`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	inst := e.Aggregate.InstanceID
	if err := countChange(ctx, tx, inst); err != nil {
		return err
	}
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	upsert := func(kind authz.ScopeKind, scopeID, scopeOrg, userID string, roles []string) error {
		b, _ := json.Marshal(roles)
		return exec(`INSERT INTO members (instance_id, scope, scope_id, scope_org, user_id, roles) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (instance_id, user_id, scope, scope_id) DO UPDATE SET roles = excluded.roles, scope_org = excluded.scope_org`,
			inst, string(kind), scopeID, scopeOrg, userID, string(b))
	}
	remove := func(kind authz.ScopeKind, scopeID, userID string) error {
		return exec(`DELETE FROM members WHERE instance_id = $1 AND scope = $2 AND scope_id = $3 AND user_id = $4`, inst, string(kind), scopeID, userID)
	}
	switch p := e.Payload.(type) {
	case *instance.MemberAdded:
		return upsert(authz.ScopeInstance, e.Aggregate.ID, "", p.UserID, p.Roles)
	case *instance.MemberRemoved:
		return remove(authz.ScopeInstance, e.Aggregate.ID, p.UserID)
	case *OrgMemberAdded:
		return upsert(authz.ScopeOrg, e.Aggregate.ID, e.Aggregate.ID, p.UserID, p.Roles)
	case *OrgMemberRemoved:
		return remove(authz.ScopeOrg, e.Aggregate.ID, p.UserID)
	case *ProjectMemberAdded:
		return upsert(authz.ScopeProject, p.ProjectID, e.Aggregate.ID, p.UserID, p.Roles)
	case *ProjectMemberRemoved:
		return remove(authz.ScopeProject, p.ProjectID, p.UserID)
	case *ProjectGrantMemberAdded:
		return upsert(authz.ScopeProjectGrant, p.GrantID, e.Aggregate.ID, p.UserID, p.Roles)
	case *ProjectGrantMemberRemoved:
		return remove(authz.ScopeProjectGrant, p.GrantID, p.UserID)
	case *RoleDefined:
		b, _ := json.Marshal(p.Permissions)
		return exec(`INSERT INTO custom_roles (instance_id, role_key, display_name, scope, permissions) VALUES ($1, $2, $3, $4, $5)`,
			inst, p.Key, p.DisplayName, p.Scope, string(b))
	case *RoleChanged:
		b, _ := json.Marshal(p.Permissions)
		return exec(`UPDATE custom_roles SET display_name = $1, permissions = $2 WHERE instance_id = $3 AND role_key = $4`,
			p.DisplayName, string(b), inst, e.Aggregate.ID)
	case *RoleRemoved:
		return exec(`DELETE FROM custom_roles WHERE instance_id = $1 AND role_key = $2`, inst, e.Aggregate.ID)
	case *org.Removed:
		// The organization's own memberships, and those on its projects
		// and on the project grants it received.
		return exec(`DELETE FROM members WHERE instance_id = $1 AND ((scope = $2 AND scope_id = $3) OR scope_org = $3)`,
			inst, string(authz.ScopeOrg), e.Aggregate.ID)
	case *user.Deleted:
		return exec(`DELETE FROM members WHERE instance_id = $1 AND user_id = $2`, inst, e.Aggregate.ID)
	case *project.GrantRemoved:
		// A revoked grant's administrators go with it.
		return exec(`DELETE FROM members WHERE instance_id = $1 AND scope = $2 AND scope_id = $3`, inst, string(authz.ScopeProjectGrant), p.GrantID)
	}
	return nil // a change of a user's, an organization's or a token's state: only counted
}
