package group

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Group is a group of an organization's users.
type Group struct {
	ID        string
	OrgID     string
	Name      string
	CreatedAt time.Time
}

// Member is a direct member of a group: a user or a group.
type Member struct {
	UserID  string
	GroupID string
}

// dbReader reads: the reader pool for commands and queries, the
// transaction for the projection.
type dbReader interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Get returns a group, or failure.NotFound.
func Get(ctx context.Context, db *database.DB, instanceID, groupID string) (Group, error) {
	g, _, err := get(ctx, db.Reader(), instanceID, groupID)
	return g, err
}

func get(ctx context.Context, db any, instanceID, groupID string) (Group, int64, error) {
	r := reader(db)
	g := Group{ID: groupID}
	var seq, created int64
	err := r.QueryRowContext(ctx, `SELECT org_id, name, sequence, created_at FROM groups WHERE instance_id = $1 AND group_id = $2`, instanceID, groupID).
		Scan(&g.OrgID, &g.Name, &seq, &created)
	if errors.Is(err, sql.ErrNoRows) || groupID == "" {
		return Group{}, 0, failure.NotFound("group %.64q not found", groupID)
	}
	if err != nil {
		return Group{}, 0, fmt.Errorf("group: %w", err)
	}
	g.CreatedAt = time.Unix(created, 0).UTC()
	return g, seq, nil
}

// reader accepts a *database.DB (its reader pool) or a dbReader.
func reader(db any) dbReader {
	if d, ok := db.(*database.DB); ok {
		return d.Reader()
	}
	return db.(dbReader)
}

// List returns the groups of an organization by name.
func List(ctx context.Context, db *database.DB, instanceID, orgID string) ([]Group, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT group_id, name, created_at FROM groups WHERE instance_id = $1 AND org_id = $2 ORDER BY name`, instanceID, orgID)
	if err != nil {
		return nil, fmt.Errorf("group: list: %w", err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g := Group{OrgID: orgID}
		var created int64
		if err := rows.Scan(&g.ID, &g.Name, &created); err != nil {
			return nil, err
		}
		g.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, g)
	}
	return out, rows.Err()
}

// Members returns the direct members of a group.
func Members(ctx context.Context, db *database.DB, instanceID, groupID string) ([]Member, error) {
	return directMembers(ctx, db, instanceID, groupID)
}

func directMembers(ctx context.Context, db any, instanceID, groupID string) ([]Member, error) {
	rows, err := reader(db).QueryContext(ctx, `SELECT member_type, member_id FROM group_members WHERE instance_id = $1 AND group_id = $2 ORDER BY member_type, member_id`,
		instanceID, groupID)
	if err != nil {
		return nil, fmt.Errorf("group: members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var typ, id string
		if err := rows.Scan(&typ, &id); err != nil {
			return nil, err
		}
		if typ == memberGroup {
			out = append(out, Member{GroupID: id})
		} else {
			out = append(out, Member{UserID: id})
		}
	}
	return out, rows.Err()
}

func ids(ctx context.Context, db any, q string, args ...any) ([]string, error) {
	out, err := database.Strings(reader(db).QueryContext(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	return out, nil
}

func subgroups(ctx context.Context, db any, instanceID, groupID string) ([]string, error) {
	return ids(ctx, db, `SELECT member_id FROM group_members WHERE instance_id = $1 AND group_id = $2 AND member_type = 'group'`, instanceID, groupID)
}

func parentsOf(ctx context.Context, db any, instanceID, groupID string) ([]string, error) {
	return ids(ctx, db, `SELECT group_id FROM group_members WHERE instance_id = $1 AND member_type = 'group' AND member_id = $2`, instanceID, groupID)
}

// GroupsOf returns the groups a user is in, directly or through nesting.
func GroupsOf(ctx context.Context, db *database.DB, instanceID, userID string) ([]string, error) {
	return ids(ctx, db, `SELECT group_id FROM group_users WHERE instance_id = $1 AND user_id = $2 ORDER BY group_id`, instanceID, userID)
}
