package member

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
)

// The callers' count. Projection counts, per instance, the changes that
// can alter what an authenticated caller may do: memberships, custom
// roles, a user's or an organization's state, a revoked personal access
// token. It keeps one row per instance (caller_versions), incremented in
// the transaction of the change, so a cache of callers (package authn)
// knows with one indexed read whether anything it holds may have gone
// stale — also when another replica made the change.
//
// The list is deliberately wide: a change that cannot make a cached caller
// wrong (a user reactivated) costs an eviction, never a wrong decision.
// The count is kept by the members projection rather than one of its own,
// so that the members' read model and the count that tells of its changes
// are one unit; a rebuild replays the events and only ever increments the
// count further (Reset leaves it), since a cache that saw count n would
// take a later n for "nothing changed".

// CallerChangeTypes are the event types the callers' count counts: every event that
// can change the outcome of authenticating a caller or of its permission
// decisions.
func CallerChangeTypes() []string {
	return eventstore.TypesOf(
		&instance.MemberAdded{}, &instance.MemberRemoved{}, &OrgMemberAdded{}, &OrgMemberRemoved{},
		&ProjectMemberAdded{}, &ProjectMemberRemoved{}, &ProjectGrantMemberAdded{}, &ProjectGrantMemberRemoved{},
		&RoleDefined{}, &RoleChanged{}, &RoleRemoved{},
		&user.Locked{}, &user.Unlocked{}, &user.Deactivated{}, &user.Reactivated{}, &user.Deleted{},
		&credential.PasswordLocked{}, &credential.OTPLocked{},
		&org.Deactivated{}, &org.Reactivated{}, &org.Removed{},
		&pat.Removed{}, &project.GrantRemoved{})
}

// countChange increments the instance's count of caller changes.
func countChange(ctx context.Context, tx *database.Tx, instanceID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO caller_versions (instance_id, version) VALUES ($1, 1)
ON CONFLICT (instance_id) DO UPDATE SET version = caller_versions.version + 1`, instanceID)
	return err
}

// CallerVersion is the instance's count of caller changes; 0 before the
// first.
func CallerVersion(ctx context.Context, db *database.DB, instanceID string) (int64, error) {
	var v int64
	err := db.Reader().QueryRowContext(ctx, `SELECT version FROM caller_versions WHERE instance_id = $1`, instanceID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("member: caller version: %w", err)
	}
	return v, nil
}
