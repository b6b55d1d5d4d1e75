package eventstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Filter selects events. Every set field narrows the result; lists match any
// of their values. Results are in commit order (Position), oldest first.
type Filter struct {
	// InstanceID is required unless AllInstances is set: no query reads
	// across instances by accident.
	InstanceID   string
	AllInstances bool

	AggregateTypes []string
	AggregateIDs   []string
	EventTypes     []string
	Owner          string
	EditorUserID   string

	// CreatedFrom and CreatedBefore bound the creation time: [from, before).
	CreatedFrom   time.Time
	CreatedBefore time.Time

	// After (exclusive) and Until (inclusive; zero means no bound) bound the
	// position.
	After Position
	Until Position

	// Limit caps the number of events; 0 means no limit.
	Limit int

	// settled keeps only events no in-flight transaction can precede (for
	// subscriptions).
	settled bool
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Query returns the events matching f.
func (s *Store) Query(ctx context.Context, f Filter) ([]Event, error) {
	return s.query(ctx, s.db.Reader(), s.db.Dialect, f)
}

// QueryTx returns the events matching f as seen inside tx, including events
// the transaction appended itself.
func (s *Store) QueryTx(ctx context.Context, tx *database.Tx, f Filter) ([]Event, error) {
	return s.query(ctx, tx, tx.Dialect, f)
}

func (s *Store) query(ctx context.Context, q querier, d database.Dialect, f Filter) ([]Event, error) {
	if f.InstanceID == "" && !f.AllInstances {
		return nil, failure.InvalidArgument("instance_id", "an event query needs an instance")
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	in := func(column string, values []string) {
		if len(values) == 0 {
			return
		}
		ph := make([]string, len(values))
		for i, v := range values {
			ph[i] = arg(v)
		}
		where = append(where, column+" IN ("+strings.Join(ph, ", ")+")")
	}
	if f.InstanceID != "" {
		where = append(where, "instance_id = "+arg(f.InstanceID))
	}
	in("aggregate_type", f.AggregateTypes)
	in("aggregate_id", f.AggregateIDs)
	in("event_type", f.EventTypes)
	if f.Owner != "" {
		where = append(where, "owner = "+arg(f.Owner))
	}
	if f.EditorUserID != "" {
		where = append(where, "editor_user = "+arg(f.EditorUserID))
	}
	if !f.CreatedFrom.IsZero() {
		where = append(where, "created_at >= "+arg(f.CreatedFrom.UnixMicro()))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(f.CreatedBefore.UnixMicro()))
	}
	if !f.After.IsZero() {
		tx, pos := arg(f.After.TxID), arg(f.After.Global)
		where = append(where, fmt.Sprintf("(tx_id > %s OR (tx_id = %s AND position > %s))", tx, tx, pos))
	}
	if !f.Until.IsZero() {
		tx, pos := arg(f.Until.TxID), arg(f.Until.Global)
		where = append(where, fmt.Sprintf("(tx_id < %s OR (tx_id = %s AND position <= %s))", tx, tx, pos))
	}
	if f.settled {
		where = append(where, settledSQL(d))
	}
	query := `SELECT instance_id, aggregate_type, aggregate_id, owner, sequence, tx_id, position,
	event_type, payload_version, payload, editor_user, editor_client, created_at FROM events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY tx_id, position"
	if f.Limit > 0 {
		query += " LIMIT " + arg(f.Limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("eventstore: query: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		var (
			e       Event
			payload []byte
			created int64
		)
		if err := rows.Scan(&e.Aggregate.InstanceID, &e.Aggregate.Type, &e.Aggregate.ID, &e.Aggregate.Owner, &e.Sequence, &e.Position.TxID, &e.Position.Global,
			&e.Type, &e.Version, &payload, &e.Editor.UserID, &e.Editor.ClientID, &created); err != nil {
			return nil, fmt.Errorf("eventstore: scan event: %w", err)
		}
		e.CreatedAt = time.UnixMicro(created).UTC()
		if e.Payload, err = s.registry.decode(e.Type, e.Version, payload); err != nil {
			return nil, fmt.Errorf("eventstore: event %s of %s/%s: %w", e.Position, e.Aggregate.Type, e.Aggregate.ID, err)
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
