package report

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
)

// batch holds what one batch of events changes in the rows that most
// events touch — the sessions and the counters — and writes it once, at
// the end (flush): a counter a batch adds to a hundred times is written
// once, and the sets of active users are added to with one statement per
// hundred members. Every key a batch touched is written, even when its
// changes add up to nothing, so that the rows do not depend on where
// batches begin and end (a replay reads bigger batches than the live
// subscription). The rest (failures, users, MFA figures) is written as
// each event is applied.
type batch struct {
	tx *database.Tx
	// pruned is the day sessions were last forgotten on (forgetSessions).
	pruned   int64
	sessions map[sessionKey]*sessionRow
	signIns  map[signInKey]*[2]int64
	daily    map[dayKey]*[2]int64
	monthly  map[dayKey]int64
	// activeDays and activeMonths are the members of the sets of active
	// users the batch adds (a user active on a day or month).
	activeDays, activeMonths map[activeKey]struct{}
}

// activeKey is a user active on a day or month of an organization.
type activeKey struct {
	dayKey
	userID string
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
		daily: map[dayKey]*[2]int64{}, monthly: map[dayKey]int64{}, activeDays: map[activeKey]struct{}{}, activeMonths: map[activeKey]struct{}{}}
}

// chunk is the most rows or ids one statement of a batch names.
const chunk = 100

// prefetch reads the sessions the events name, a hundred per query.
func (b *batch) prefetch(ctx context.Context, keys []sessionKey) error {
	var missing []sessionKey
	for _, k := range keys {
		if _, ok := b.sessions[k]; !ok {
			b.sessions[k] = &sessionRow{instanceID: k.instanceID, sessionID: k.sessionID}
			missing = append(missing, k)
		}
	}
	for part := range slices.Chunk(missing, chunk) {
		args := make([]any, 0, 2*len(part))
		var rowsSQL []string
		for i, k := range part {
			rowsSQL = append(rowsSQL, fmt.Sprintf("($%d, $%d)", 2*i+1, 2*i+2))
			args = append(args, k.instanceID, k.sessionID)
		}
		rows, err := b.tx.QueryContext(ctx, `SELECT instance_id, session_id, user_id, org_id, client_id, proven_user, proven_org, proven_day, last_day,
pending_failures FROM report_sessions WHERE (instance_id, session_id) IN (VALUES `+strings.Join(rowsSQL, ", ")+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k sessionKey
			s := &sessionRow{exists: true}
			if err := rows.Scan(&k.instanceID, &k.sessionID, &s.userID, &s.orgID, &s.clientID, &s.provenUser, &s.provenOrg, &s.provenDay, &s.lastDay, &s.pendingFailures); err != nil {
				rows.Close()
				return err
			}
			s.instanceID, s.sessionID = k.instanceID, k.sessionID
			b.sessions[k] = s
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// markActive adds a user to the active users of its day and month.
func (b *batch) markActive(instanceID, orgID, userID string, day, month int64) {
	b.activeDays[activeKey{dayKey{instanceID, orgID, day}, userID}] = struct{}{}
	b.activeMonths[activeKey{dayKey{instanceID, orgID, month}, userID}] = struct{}{}
}

// addActive inserts the members of a set of active users (table
// report_active_days or report_active_months, period column day or
// month) and counts those who were not members yet with count.
func (b *batch) addActive(ctx context.Context, members map[activeKey]struct{}, table, period string, count func(dayKey)) error {
	keys := sortedKeys(members, func(x, y activeKey) int {
		return cmp.Or(strings.Compare(x.instanceID, y.instanceID), strings.Compare(x.orgID, y.orgID), cmp.Compare(x.day, y.day),
			strings.Compare(x.userID, y.userID))
	})
	for part := range slices.Chunk(keys, chunk) {
		args := make([]any, 0, 4*len(part))
		var rowsSQL []string
		for i, k := range part {
			rowsSQL = append(rowsSQL, fmt.Sprintf("($%d, $%d, $%d, $%d)", 4*i+1, 4*i+2, 4*i+3, 4*i+4))
			args = append(args, k.instanceID, k.orgID, k.day, k.userID)
		}
		rows, err := b.tx.QueryContext(ctx, `INSERT INTO `+table+` (instance_id, org_id, `+period+`, user_id) VALUES `+strings.Join(rowsSQL, ", ")+`
ON CONFLICT (instance_id, org_id, `+period+`, user_id) DO NOTHING RETURNING instance_id, org_id, `+period, args...)
		if err != nil {
			return err
		}
		var added []dayKey
		for rows.Next() {
			var k dayKey
			if err := rows.Scan(&k.instanceID, &k.orgID, &k.day); err != nil {
				rows.Close()
				return err
			}
			added = append(added, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, k := range added {
			count(k)
		}
	}
	return nil
}

// session returns what the report knows of a session; changes to it
// are written at flush when it is marked dirty.
func (b *batch) session(ctx context.Context, instanceID, sessionID string) (*sessionRow, error) {
	k := sessionKey{instanceID, sessionID}
	if s, ok := b.sessions[k]; ok {
		return s, nil
	}
	s := &sessionRow{instanceID: instanceID, sessionID: sessionID}
	err := b.tx.QueryRowContext(ctx, `SELECT user_id, org_id, client_id, proven_user, proven_org, proven_day, last_day, pending_failures FROM report_sessions
WHERE instance_id = $1 AND session_id = $2`, instanceID, sessionID).Scan(&s.userID, &s.orgID, &s.clientID, &s.provenUser, &s.provenOrg, &s.provenDay, &s.lastDay, &s.pendingFailures)
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
	if err := b.addActive(ctx, b.activeDays, "report_active_days", "day", func(k dayKey) { b.addDaily(k.instanceID, k.orgID, k.day, 1, 0) }); err != nil {
		return err
	}
	if err := b.addActive(ctx, b.activeMonths, "report_active_months", "month", func(k dayKey) { b.addMonthly(k.instanceID, k.orgID, k.day, 1) }); err != nil {
		return err
	}
	sessions := make([]*sessionRow, 0, len(b.sessions))
	for _, s := range b.sessions {
		if s.dirty {
			sessions = append(sessions, s)
		}
	}
	slices.SortFunc(sessions, func(x, y *sessionRow) int {
		return cmp.Or(strings.Compare(x.instanceID, y.instanceID), strings.Compare(x.sessionID, y.sessionID))
	})
	for part := range slices.Chunk(sessions, chunk) {
		const columns = 10
		args := make([]any, 0, columns*len(part))
		var rowsSQL []string
		for i, s := range part {
			ps := make([]string, columns)
			for j := range ps {
				ps[j] = fmt.Sprintf("$%d", columns*i+j+1)
			}
			rowsSQL = append(rowsSQL, "("+strings.Join(ps, ", ")+")")
			args = append(args, s.instanceID, s.sessionID, s.userID, s.orgID, s.clientID, s.provenUser, s.provenOrg, s.provenDay, s.lastDay, s.pendingFailures)
		}
		if _, err := b.tx.ExecContext(ctx, `INSERT INTO report_sessions (instance_id, session_id, user_id, org_id, client_id, proven_user, proven_org,
proven_day, last_day, pending_failures) VALUES `+strings.Join(rowsSQL, ", ")+` ON CONFLICT (instance_id, session_id) DO UPDATE SET user_id = excluded.user_id,
org_id = excluded.org_id, client_id = excluded.client_id, proven_user = excluded.proven_user, proven_org = excluded.proven_org,
proven_day = excluded.proven_day, last_day = excluded.last_day, pending_failures = excluded.pending_failures`, args...); err != nil {
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
