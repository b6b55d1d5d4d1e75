package report

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
)

// batch holds what one batch of events changes in the rows that most
// events touch — the sessions and the counters — and writes it once, at
// the end (flush): a counter a batch adds to a hundred times is written
// once. Every key a batch touched is written, even when its changes add
// up to nothing, so that the rows do not depend on where batches begin
// and end (a replay reads bigger batches than the live subscription).
// The rest (the sets of active users, failures, users, MFA figures) is
// written as each event is applied.
type batch struct {
	tx *database.Tx
	// pruned is the day sessions were last forgotten on (forgetSessions).
	pruned   int64
	sessions map[sessionKey]*sessionRow
	signIns  map[signInKey]*[2]int64
	daily    map[dayKey]*[2]int64
	monthly  map[dayKey]int64
}

type sessionKey struct{ instanceID, sessionID string }

type signInKey struct {
	instanceID, orgID string
	day               int64
	clientID          string
}

// dayKey names a day, or a month, of an organization.
type dayKey struct {
	instanceID, orgID string
	day               int64
}

func newBatch(tx *database.Tx) *batch {
	return &batch{tx: tx, sessions: map[sessionKey]*sessionRow{}, signIns: map[signInKey]*[2]int64{},
		daily: map[dayKey]*[2]int64{}, monthly: map[dayKey]int64{}}
}

// session returns what the report knows of a session; changes to it
// are written at flush when it is marked dirty.
func (b *batch) session(ctx context.Context, instanceID, sessionID string) (*sessionRow, error) {
	k := sessionKey{instanceID, sessionID}
	if s, ok := b.sessions[k]; ok {
		return s, nil
	}
	s := &sessionRow{instanceID: instanceID, sessionID: sessionID}
	err := b.tx.QueryRowContext(ctx, `SELECT user_id, org_id, client_id, proven_user, proven_org, proven_day, last_day FROM report_sessions
WHERE instance_id = $1 AND session_id = $2`, instanceID, sessionID).Scan(&s.userID, &s.orgID, &s.clientID, &s.provenUser, &s.provenOrg, &s.provenDay, &s.lastDay)
	switch {
	case err == nil:
		s.exists = true
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	b.sessions[k] = s
	return s, nil
}

// SessionMemory is how many days after its last check the report
// remembers a session that did not end: a code redeemed later is not
// counted for its application.
const SessionMemory = 30

// loadPruned reads the day sessions were last forgotten on.
func (b *batch) loadPruned(ctx context.Context) error {
	err := b.tx.QueryRowContext(ctx, `SELECT value FROM report_state WHERE name = 'pruned_day'`).Scan(&b.pruned)
	if errors.Is(err, sql.ErrNoRows) {
		b.pruned, err = math.MinInt64, nil
	}
	return err
}

// forgetSessions deletes, on the first event of each new day, the
// sessions SessionMemory days older (those that expired rather than
// ended), with their failures. What is forgotten depends on the events
// alone, not on where a batch begins: the batch is written first, and
// the day is kept with the rows.
func (b *batch) forgetSessions(ctx context.Context, day int64) error {
	if day <= b.pruned {
		return nil
	}
	if err := b.flush(ctx); err != nil {
		return err
	}
	*b = *newBatch(b.tx)
	b.pruned = day
	if _, err := b.tx.ExecContext(ctx, `DELETE FROM report_sessions WHERE last_day < $1`, day-SessionMemory); err != nil {
		return err
	}
	if _, err := b.tx.ExecContext(ctx, `DELETE FROM report_session_failures WHERE NOT EXISTS (SELECT 1 FROM report_sessions s
WHERE s.instance_id = report_session_failures.instance_id AND s.session_id = report_session_failures.session_id)`); err != nil {
		return err
	}
	_, err := b.tx.ExecContext(ctx, `INSERT INTO report_state (name, value) VALUES ('pruned_day', $1)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, day)
	return err
}

// endSession forgets a session.
func (b *batch) endSession(ctx context.Context, instanceID, sessionID string) error {
	for _, t := range []string{"report_sessions", "report_session_failures"} {
		if _, err := b.tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE instance_id = $1 AND session_id = $2`, instanceID, sessionID); err != nil {
			return err
		}
	}
	b.sessions[sessionKey{instanceID, sessionID}] = &sessionRow{instanceID: instanceID, sessionID: sessionID}
	return nil
}

// addSignIns adds to the sign-ins of an organization's day through an
// application, and to the instance's.
func (b *batch) addSignIns(instanceID, orgID string, day int64, clientID string, succeeded, failed int64) {
	for _, o := range []string{orgID, wholeInstance} {
		k := signInKey{instanceID, o, day, clientID}
		c := b.signIns[k]
		if c == nil {
			c = new([2]int64)
			b.signIns[k] = c
		}
		c[0] += succeeded
		c[1] += failed
	}
}

// addDaily adds to the active and new users of an organization's day,
// and to the instance's.
func (b *batch) addDaily(instanceID, orgID string, day, active, added int64) {
	for _, o := range scopes(orgID) {
		k := dayKey{instanceID, o, day}
		c := b.daily[k]
		if c == nil {
			c = new([2]int64)
			b.daily[k] = c
		}
		c[0] += active
		c[1] += added
	}
}

// addMonthly adds to the active users of an organization's month, and
// to the instance's.
func (b *batch) addMonthly(instanceID, orgID string, month, active int64) {
	for _, o := range scopes(orgID) {
		b.monthly[dayKey{instanceID, o, month}] += active
	}
}

// flush writes the batch's sessions and counters, in key order (two
// replicas' transactions never hold each other's rows crosswise).
func (b *batch) flush(ctx context.Context) error {
	sessions := make([]*sessionRow, 0, len(b.sessions))
	for _, s := range b.sessions {
		if s.dirty {
			sessions = append(sessions, s)
		}
	}
	slices.SortFunc(sessions, func(x, y *sessionRow) int {
		return cmp.Or(strings.Compare(x.instanceID, y.instanceID), strings.Compare(x.sessionID, y.sessionID))
	})
	for _, s := range sessions {
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO report_sessions (instance_id, session_id, user_id, org_id, client_id, proven_user, proven_org, proven_day, last_day)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (instance_id, session_id) DO UPDATE SET user_id = excluded.user_id, org_id = excluded.org_id,
client_id = excluded.client_id, proven_user = excluded.proven_user, proven_org = excluded.proven_org, proven_day = excluded.proven_day,
last_day = excluded.last_day`,
			s.instanceID, s.sessionID, s.userID, s.orgID, s.clientID, s.provenUser, s.provenOrg, s.provenDay, s.lastDay); err != nil {
			return err
		}
	}
	signIns := sortedKeys(b.signIns, func(x, y signInKey) int {
		return cmp.Or(strings.Compare(x.instanceID, y.instanceID), strings.Compare(x.orgID, y.orgID), cmp.Compare(x.day, y.day),
			strings.Compare(x.clientID, y.clientID))
	})
	for _, k := range signIns {
		c := b.signIns[k]
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO report_sign_ins (instance_id, org_id, day, client_id, succeeded, failed) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (instance_id, org_id, day, client_id) DO UPDATE SET succeeded = report_sign_ins.succeeded + excluded.succeeded,
failed = report_sign_ins.failed + excluded.failed`, k.instanceID, k.orgID, k.day, k.clientID, c[0], c[1]); err != nil {
			return err
		}
	}
	byDay := func(x, y dayKey) int {
		return cmp.Or(strings.Compare(x.instanceID, y.instanceID), strings.Compare(x.orgID, y.orgID), cmp.Compare(x.day, y.day))
	}
	for _, k := range sortedKeys(b.daily, byDay) {
		c := b.daily[k]
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO report_daily (instance_id, org_id, day, active_users, new_users) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, org_id, day) DO UPDATE SET active_users = report_daily.active_users + excluded.active_users,
new_users = report_daily.new_users + excluded.new_users`, k.instanceID, k.orgID, k.day, c[0], c[1]); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(b.monthly, byDay) {
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO report_monthly (instance_id, org_id, month, active_users) VALUES ($1, $2, $3, $4)
ON CONFLICT (instance_id, org_id, month) DO UPDATE SET active_users = report_monthly.active_users + excluded.active_users`,
			k.instanceID, k.orgID, k.day, b.monthly[k]); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[K comparable, V any](m map[K]V, cmp func(K, K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}
