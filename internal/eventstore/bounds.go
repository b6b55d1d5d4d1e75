package eventstore

// Where a query's walk starts and stops: along which index (leadColumn),
// and between which positions a time range lies (timeBounds). query.go
// writes the statement from them.

import (
	"context"
	"fmt"
	"time"
)

// leadColumn is the column of the equality filter whose index (instance,
// column, commit order) a query of one instance walks, most selective
// first; "" for commit order.
func leadColumn(f Filter) (column, value string) {
	if f.InstanceID == "" {
		return "", ""
	}
	switch {
	case f.EditorSessionID != "":
		return "editor_session", f.EditorSessionID
	case f.EditorUserID != "":
		return "editor_user", f.EditorUserID
	case f.EditorNetwork.IsValid() && f.EditorNetwork.IsSingleIP():
		lo, _ := addressRange(f.EditorNetwork)
		return "editor_address", lo
	case f.Owner != "":
		return "owner", f.Owner
	case len(f.EventTypes) == 1 && len(f.EventTypePrefixes) == 0:
		return "event_type", f.EventTypes[0]
	}
	return "", ""
}

// Time and commit order. Events are returned in commit order, but a
// time range alone would make the database walk that order from the first
// event of the instance until the range begins (or sort every event of the
// range by position): seconds at ten million events. timeBounds turns the
// range into positions, each found with one probe of the time index.
//
// That is sound because time and commit order agree up to a margin: Push
// takes its time stamp before its transaction's first write (which is when
// PostgreSQL gives the transaction its id; on SQLite writers are
// serialized) and refuses to commit if more than maxStampAge passed before
// its last write, and every event of a transaction has the same stamp. So
// a transaction stamped more than stampMargin before another got the
// smaller id, as long as the servers' clocks agree within
// (stampMargin - maxStampAge) / 2 — 25 seconds.
const (
	maxStampAge = 10 * time.Second
	stampMargin = time.Minute
)

// boundedByTime reports whether f's time range is answered through
// positions: one of an instance (the time index starts with it).
func (f Filter) boundedByTime() bool {
	return f.InstanceID != "" && (!f.CreatedFrom.IsZero() || !f.CreatedBefore.IsZero())
}

// timeBounds returns positions every event of instanceID created in
// [from, before) lies strictly between (zero when there is none to bound
// by): the newest event stamped more than stampMargin before from, and the
// oldest stamped stampMargin or more after before.
func timeBounds(ctx context.Context, q querier, instanceID string, from, before time.Time) (lo, hi Position, err error) {
	probe := func(query string, at time.Time) (Position, error) {
		var p Position
		rows, err := q.QueryContext(ctx, query, instanceID, at.UnixMicro())
		if err != nil {
			return p, fmt.Errorf("eventstore: bound a time range: %w", err)
		}
		defer rows.Close()
		if rows.Next() {
			if err := rows.Scan(&p.TxID, &p.Global); err != nil {
				return p, fmt.Errorf("eventstore: bound a time range: %w", err)
			}
		}
		return p, rows.Err()
	}
	if !from.IsZero() {
		if lo, err = probe(`SELECT tx_id, position FROM events WHERE instance_id = $1 AND created_at < $2
ORDER BY created_at DESC, tx_id DESC, position DESC LIMIT 1`, from.Add(-stampMargin)); err != nil {
			return lo, hi, err
		}
	}
	if !before.IsZero() {
		if hi, err = probe(`SELECT tx_id, position FROM events WHERE instance_id = $1 AND created_at >= $2
ORDER BY created_at, tx_id, position LIMIT 1`, before.Add(stampMargin)); err != nil {
			return lo, hi, err
		}
	}
	return lo, hi, nil
}
