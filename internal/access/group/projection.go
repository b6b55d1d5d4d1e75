package group

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

const (
	memberUser  = "user"
	memberGroup = "group"
)

const tables = `CREATE TABLE groups (instance_id TEXT NOT NULL, group_id TEXT NOT NULL, org_id TEXT NOT NULL, name TEXT NOT NULL, sequence BIGINT NOT NULL,
	created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, group_id));
CREATE INDEX groups_org ON groups (instance_id, org_id, name);
CREATE TABLE group_members (instance_id TEXT NOT NULL, group_id TEXT NOT NULL, member_type TEXT NOT NULL, member_id TEXT NOT NULL,
	PRIMARY KEY (instance_id, group_id, member_type, member_id));
CREATE INDEX group_members_member ON group_members (instance_id, member_type, member_id);
CREATE TABLE group_users (instance_id TEXT NOT NULL, group_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (instance_id, group_id, user_id));
CREATE INDEX group_users_user ON group_users (instance_id, user_id, group_id);`

// Migrations create the group read models.
var Migrations = []database.Migration{{Name: "group/0001_groups", SQLite: tables, Postgres: tables}}

// Projection keeps groups, group_members and group_users.
type Projection struct{}

func (Projection) Name() string { return "groups" }

func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Added{}, &Renamed{}, &Removed{}, &MemberAdded{}, &MemberRemoved{}, &user.Deleted{}, &org.Removed{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	for _, t := range []string{"groups", "group_members", "group_users"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
			return err
		}
	}
	return nil
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a := e.Aggregate
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	if a.Type == AggregateType {
		if _, ok := e.Payload.(*Added); !ok {
			if err := exec(`UPDATE groups SET sequence = $1 WHERE instance_id = $2 AND group_id = $3`, e.Sequence, a.InstanceID, a.ID); err != nil {
				return err
			}
		}
	}
	switch p := e.Payload.(type) {
	case *Added:
		return exec(`INSERT INTO groups (instance_id, group_id, org_id, name, sequence, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			a.InstanceID, a.ID, a.Owner, p.Name, e.Sequence, e.CreatedAt.Unix())
	case *Renamed:
		return exec(`UPDATE groups SET name = $1 WHERE instance_id = $2 AND group_id = $3`, p.Name, a.InstanceID, a.ID)
	case *Removed:
		parents, err := parentsOf(ctx, tx, a.InstanceID, a.ID)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM groups WHERE instance_id = $1 AND group_id = $2`,
			`DELETE FROM group_members WHERE instance_id = $1 AND group_id = $2`,
			`DELETE FROM group_members WHERE instance_id = $1 AND member_type = 'group' AND member_id = $2`,
			`DELETE FROM group_users WHERE instance_id = $1 AND group_id = $2`,
		} {
			if err := exec(q, a.InstanceID, a.ID); err != nil {
				return err
			}
		}
		for _, p := range parents {
			if err := flatten(ctx, tx, a.InstanceID, p); err != nil {
				return err
			}
		}
		return nil
	case *MemberAdded:
		typ, id := member(p.UserID, p.GroupID)
		if err := exec(`INSERT INTO group_members (instance_id, group_id, member_type, member_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			a.InstanceID, a.ID, typ, id); err != nil {
			return err
		}
		return flatten(ctx, tx, a.InstanceID, a.ID)
	case *MemberRemoved:
		typ, id := member(p.UserID, p.GroupID)
		if err := exec(`DELETE FROM group_members WHERE instance_id = $1 AND group_id = $2 AND member_type = $3 AND member_id = $4`,
			a.InstanceID, a.ID, typ, id); err != nil {
			return err
		}
		return flatten(ctx, tx, a.InstanceID, a.ID)
	case *user.Deleted:
		if err := exec(`DELETE FROM group_members WHERE instance_id = $1 AND member_type = 'user' AND member_id = $2`, a.InstanceID, a.ID); err != nil {
			return err
		}
		return exec(`DELETE FROM group_users WHERE instance_id = $1 AND user_id = $2`, a.InstanceID, a.ID)
	case *org.Removed:
		for _, q := range []string{
			`DELETE FROM group_users WHERE instance_id = $1 AND group_id IN (SELECT group_id FROM groups WHERE instance_id = $1 AND org_id = $2)`,
			`DELETE FROM group_members WHERE instance_id = $1 AND group_id IN (SELECT group_id FROM groups WHERE instance_id = $1 AND org_id = $2)`,
			`DELETE FROM groups WHERE instance_id = $1 AND org_id = $2`,
		} {
			if err := exec(q, a.InstanceID, a.ID); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}

func member(userID, groupID string) (string, string) {
	if groupID != "" {
		return memberGroup, groupID
	}
	return memberUser, userID
}

// flatten rewrites the users of group g and of every group above it:
// each one's users through nesting. Depth and size are bounded by the
// commands (MaxDepth, MaxMembers); seen stops a cycle that events alone
// could describe.
func flatten(ctx context.Context, tx *database.Tx, instanceID, g string) error {
	todo, seen := []string{g}, map[string]bool{}
	for len(todo) > 0 {
		cur := todo[0]
		todo = todo[1:]
		if seen[cur] {
			continue
		}
		seen[cur] = true
		users := map[string]bool{}
		if err := collect(ctx, tx, instanceID, cur, users, map[string]bool{}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM group_users WHERE instance_id = $1 AND group_id = $2`, instanceID, cur); err != nil {
			return err
		}
		for u := range users {
			if _, err := tx.ExecContext(ctx, `INSERT INTO group_users (instance_id, group_id, user_id) VALUES ($1, $2, $3)`, instanceID, cur, u); err != nil {
				return err
			}
		}
		parents, err := parentsOf(ctx, tx, instanceID, cur)
		if err != nil {
			return err
		}
		todo = append(todo, parents...)
	}
	return nil
}

// collect adds the users of g, through nesting, to users.
func collect(ctx context.Context, tx *database.Tx, instanceID, g string, users, seen map[string]bool) error {
	if seen[g] {
		return nil
	}
	seen[g] = true
	members, err := directMembers(ctx, tx, instanceID, g)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.UserID != "" {
			users[m.UserID] = true
		} else if err := collect(ctx, tx, instanceID, m.GroupID, users, seen); err != nil {
			return err
		}
	}
	return nil
}
