package member

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

// Migrations create the members table. (The migration keeps the name it
// was first applied under.)
var Migrations = []database.Migration{{
	Name: "authz/0001_members",
	SQLite: `CREATE TABLE members (instance_id TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL,
	PRIMARY KEY (instance_id, user_id, scope, scope_id));`,
	Postgres: `CREATE TABLE members (instance_id TEXT NOT NULL, scope TEXT NOT NULL, scope_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL,
	PRIMARY KEY (instance_id, user_id, scope, scope_id));`,
}}

// Projection keeps the members table.
type Projection struct{}

func (Projection) Name() string { return "members" }

func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&instance.MemberAdded{}, &instance.MemberRemoved{}, &OrgMemberAdded{}, &OrgMemberRemoved{}, &org.Removed{}, &user.Deleted{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM members`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	upsert := func(kind authz.ScopeKind, userID string, roles []string) error {
		b, _ := json.Marshal(roles)
		_, err := tx.ExecContext(ctx, `INSERT INTO members (instance_id, scope, scope_id, user_id, roles) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, user_id, scope, scope_id) DO UPDATE SET roles = excluded.roles`,
			e.Aggregate.InstanceID, string(kind), e.Aggregate.ID, userID, string(b))
		return err
	}
	switch p := e.Payload.(type) {
	case *instance.MemberAdded:
		return upsert(authz.ScopeInstance, p.UserID, p.Roles)
	case *OrgMemberAdded:
		return upsert(authz.ScopeOrg, p.UserID, p.Roles)
	case *instance.MemberRemoved:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND scope = $2 AND user_id = $3`,
			e.Aggregate.InstanceID, string(authz.ScopeInstance), p.UserID)
		return err
	case *org.Removed:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND scope = $2 AND scope_id = $3`,
			e.Aggregate.InstanceID, string(authz.ScopeOrg), e.Aggregate.ID)
		return err
	case *user.Deleted:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND user_id = $2`, e.Aggregate.InstanceID, e.Aggregate.ID)
		return err
	case *OrgMemberRemoved:
		_, err := tx.ExecContext(ctx, `DELETE FROM members WHERE instance_id = $1 AND scope = $2 AND scope_id = $3 AND user_id = $4`,
			e.Aggregate.InstanceID, string(authz.ScopeOrg), e.Aggregate.ID, p.UserID)
		return err
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}
