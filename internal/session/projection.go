package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Migrations create the session read models: the live sessions, by user,
// for listing (sessions are read for checks from their events), and the
// devices users signed in from (device.go).
var Migrations = []database.Migration{{
	Name: "session/0001_sessions",
	SQLite: `CREATE TABLE sessions (instance_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL, org_id TEXT NOT NULL,
	user_agent TEXT NOT NULL, address TEXT NOT NULL, created_at INTEGER NOT NULL, last_active INTEGER NOT NULL,
	lifetime_end INTEGER NOT NULL, idle_seconds INTEGER NOT NULL, expires_at INTEGER NOT NULL, factors TEXT NOT NULL,
	PRIMARY KEY (instance_id, id));
CREATE INDEX sessions_user ON sessions (instance_id, user_id, expires_at);`,
	Postgres: `CREATE TABLE sessions (instance_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL, org_id TEXT NOT NULL,
	user_agent TEXT NOT NULL, address TEXT NOT NULL, created_at BIGINT NOT NULL, last_active BIGINT NOT NULL,
	lifetime_end BIGINT NOT NULL, idle_seconds BIGINT NOT NULL, expires_at BIGINT NOT NULL, factors TEXT NOT NULL,
	PRIMARY KEY (instance_id, id));
CREATE INDEX sessions_user ON sessions (instance_id, user_id, expires_at);`,
}, devicesMigration}

// Projection keeps sessions: a row per session that has a user, until it
// ends. Rows of expired sessions stay until the session's user lists
// them no more (they are filtered by expires_at).
type Projection struct{}

func (Projection) Name() string { return "sessions" }
func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Created{}, &UserChecked{}, &FactorChecked{}, &CheckFailed{}, &WebAuthnChallenged{}, &Ended{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM sessions`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	inst, id, at := e.Aggregate.InstanceID, e.Aggregate.ID, e.CreatedAt.Unix()
	var err error
	touch := func() error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_active = $3,
			expires_at = CASE WHEN idle_seconds > 0 AND $3 + idle_seconds < lifetime_end THEN $3 + idle_seconds ELSE lifetime_end END
			WHERE instance_id = $1 AND id = $2`, inst, id, at)
		return err
	}
	switch p := e.Payload.(type) {
	case *Created:
		end := e.CreatedAt.Add(p.Lifetime).Unix()
		idle := int64(p.IdleTimeout / time.Second)
		expires := end
		if idle > 0 && at+idle < end {
			expires = at + idle
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (instance_id, id, user_id, org_id, user_agent, address, created_at, last_active,
			lifetime_end, idle_seconds, expires_at, factors) VALUES ($1, $2, '', '', $3, $4, $5, $5, $6, $7, $8, '')`,
			inst, id, truncate(p.Client.UserAgent, 512), truncate(p.Client.Address, 64), at, end, idle, expires)
	case *UserChecked:
		if _, err = tx.ExecContext(ctx, `UPDATE sessions SET user_id = $3, org_id = $4, factors = '' WHERE instance_id = $1 AND id = $2`,
			inst, id, p.UserID, p.OrgID); err == nil {
			err = touch()
		}
	case *FactorChecked:
		if p.UserID != "" {
			_, err = tx.ExecContext(ctx, `UPDATE sessions SET user_id = $3, org_id = $4 WHERE instance_id = $1 AND id = $2`, inst, id, p.UserID, p.OrgID)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE sessions SET factors = CASE WHEN factors = '' THEN $3 ELSE factors || ' ' || $3 END
				WHERE instance_id = $1 AND id = $2`, inst, id, string(p.Factor))
		}
		if err == nil {
			err = touch()
		}
	case *CheckFailed, *WebAuthnChallenged:
		err = touch()
	case *Ended:
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE instance_id = $1 AND id = $2`, inst, id)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Summary is a session in a list.
type Summary struct {
	ID                    string
	UserID, OrgID         string
	UserAgent, Address    string
	CreatedAt, LastActive time.Time
	ExpiresAt             time.Time
	// Factors lists the factors checked, in the order of their checks.
	Factors []string
}

// maxListed bounds a list of a user's sessions.
const maxListed = 200

// List returns the live sessions of a user, the most recently active
// first (at most 200).
func List(ctx context.Context, db *database.DB, instanceID, userID string, now time.Time) ([]Summary, error) {
	rows, err := db.Reader().QueryContext(ctx, `SELECT id, user_id, org_id, user_agent, address, created_at, last_active, expires_at, factors
		FROM sessions WHERE instance_id = $1 AND user_id = $2 AND expires_at > $3 ORDER BY last_active DESC, id LIMIT $4`,
		instanceID, userID, now.Unix(), maxListed)
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var s Summary
		var created, last, expires int64
		var factors string
		if err := rows.Scan(&s.ID, &s.UserID, &s.OrgID, &s.UserAgent, &s.Address, &created, &last, &expires, &factors); err != nil {
			return nil, err
		}
		s.CreatedAt, s.LastActive, s.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(last, 0).UTC(), time.Unix(expires, 0).UTC()
		s.Factors = strings.Fields(factors)
		out = append(out, s)
	}
	return out, rows.Err()
}

// sweepAfter is how long the row of an expired session is kept: long
// enough for a user to see that it ended.
const sweepAfter = 24 * time.Hour

// Sweep deletes the rows of sessions that expired more than a day before
// now, in every instance, and returns how many. Their events stay: the
// audit trail of sign-ins is the event log, and a rebuild of the read
// model brings the rows back until the next sweep.
func Sweep(ctx context.Context, db *database.DB, now time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *database.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < $1`, now.Add(-sweepAfter).Unix())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("session: sweep: %w", err)
	}
	return n, nil
}
