package member

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
)

// OfUser lists the memberships of a user — the administrator roles it
// holds on the instance, organizations, projects and grants — by scope.
func OfUser(ctx context.Context, db *database.DB, instanceID, userID string) ([]authz.Membership, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT scope, scope_id, scope_org, roles FROM members WHERE instance_id = $1 AND user_id = $2 ORDER BY scope, scope_id`,
		instanceID, userID)
	if err != nil {
		return nil, fmt.Errorf("member: memberships of %s: %w", userID, err)
	}
	defer rows.Close()
	var out []authz.Membership
	for rows.Next() {
		var m authz.Membership
		var kind, roles string
		if err := rows.Scan(&kind, &m.Scope.ID, &m.Scope.Org, &roles); err != nil {
			return nil, err
		}
		m.Scope.Kind = authz.ScopeKind(kind)
		if err := json.Unmarshal([]byte(roles), &m.Roles); err != nil {
			return nil, fmt.Errorf("member: memberships of %s: %w", userID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
