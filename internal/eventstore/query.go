package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
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
	// EventTypePrefixes match event types that start with one of them
	// ("authorization." for every authorization event); with EventTypes,
	// an event matching either counts.
	EventTypePrefixes []string
	Owner             string
	EditorUserID      string
	EditorClientID    string
	// EditorSessionID matches the session or personal access token a
	// change was authenticated by.
	EditorSessionID string
	// EditorNetwork matches changes made from an address in it (a single
	// address is a /32 or /128 network).
	EditorNetwork netip.Prefix

	// CreatedFrom and CreatedBefore bound the creation time: [from, before).
	CreatedFrom   time.Time
	CreatedBefore time.Time

	// After (exclusive) and Until (inclusive; zero means no bound) bound the
	// position.
	After Position
	Until Position

	// Limit caps the number of events; 0 means no limit.
	Limit int

	// Settled keeps only events no in-flight transaction can precede: a
	// reader that pages After the last position it saw (subscriptions, an
	// audit export or stream) misses nothing committed later.
	Settled bool
}

// querier reads rows: a pool, a transaction, keptReader. A Sealer reads
// its keys through one (QueryRowContext).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Query returns the events matching f. A query of one instance that an
// equality filter's index or a time range bounds (leadColumn, timeBounds)
// reads through database.DB.IndexReader, so that on PostgreSQL no estimate
// turns it into a scan of a bitmap or the table followed by a sort; the
// others — subscriptions reading commit order, an aggregate's events —
// through the reader pool, as their plans need no help.
func (s *Store) Query(ctx context.Context, f Filter) ([]Event, error) {
	var pool querier = s.db.Reader()
	if lead, _ := leadColumn(f); lead != "" || f.boundedByTime() {
		pool = s.db.IndexReader()
	} else if f.oneAggregate() {
		pool = keptReader{s.db}
	}
	return s.query(ctx, pool, s.db.Dialect, f)
}

// keptReader reads through the reader pool with a statement database.DB
// keeps prepared (ReadQuery): for a command's load of its aggregate, the
// hottest read there is, whose few shapes were compiled again each time.
// Other filters' shapes are many (an audit search's), and are not kept.
type keptReader struct{ db *database.DB }

func (k keptReader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return k.db.ReadQuery(ctx, query, args...)
}

// QueryRowContext reads a row, as the personal data's keys are read.
func (k keptReader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return k.db.ReadQueryRow(ctx, query, args...)
}

// QueryTx returns the events matching f as seen inside tx, including events
// the transaction appended itself.
func (s *Store) QueryTx(ctx context.Context, tx *database.Tx, f Filter) ([]Event, error) {
	return s.query(ctx, tx, tx.Dialect, f)
}

func (s *Store) query(ctx context.Context, q querier, d database.Dialect, f Filter) ([]Event, error) {
	query, args, err := querySQL(ctx, q, d, f)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("eventstore: query: %w", err)
	}
	defer rows.Close()
	var (
		events []Event
		sealed = map[int][]byte{} // event index -> sealed personal data, opened once the rows are read
	)
	for rows.Next() {
		var (
			e        Event
			payload  []byte
			personal []byte
			created  int64
			address  string
		)
		if err := rows.Scan(&e.Aggregate.InstanceID, &e.Aggregate.Type, &e.Aggregate.ID, &e.Aggregate.Owner, &e.Sequence, &e.Position.TxID, &e.Position.Global,
			&e.Type, &e.Version, &payload, &e.Editor.UserID, &e.Editor.ClientID, &created, &personal, &e.Editor.SessionID, &address); err != nil {
			return nil, fmt.Errorf("eventstore: scan event: %w", err)
		}
		e.Editor.Address = decodeAddress(address)
		e.CreatedAt = time.UnixMicro(created).UTC()
		if e.Payload, err = s.registry.decode(e.Type, e.Version, payload); err != nil {
			return nil, fmt.Errorf("eventstore: event %s of %s/%s: %w", e.Position, e.Aggregate.Type, e.Aggregate.ID, err)
		}
		if personal != nil {
			sealed[len(events)] = personal
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close() // a connection reads one result at a time; keys are read next
	if len(sealed) > 0 {
		var open func(instanceID, subject string, sealed []byte) ([]byte, error)
		if s.sealer != nil {
			open = s.sealer.Opener(ctx, q)
		}
		for i, data := range sealed {
			if err := s.joinPersonal(&events[i], open, data); err != nil {
				return nil, err
			}
		}
	}
	return events, nil
}

// oneAggregate reports whether f reads one aggregate's events, whole or
// up to a position: those come in the aggregate's order (sequence), which
// for one aggregate is the order its events committed in, so that its
// index (events_aggregate) answers in order. Ordered by position, a
// planner with statistics from when the instance had a handful of events
// walked the instance's commit order instead and filtered every event of
// it (TestAggregatePlan). A page of one aggregate (After, Limit) keeps
// commit order: its cursor is a position.
func (f Filter) oneAggregate() bool {
	return f.InstanceID != "" && len(f.AggregateTypes) == 1 && len(f.AggregateIDs) == 1 && f.After.IsZero() && f.Limit == 0
}

// querySQL is the statement answering f, with its arguments; it probes
// the time index for a time range's positions (timeBounds).
func querySQL(ctx context.Context, q querier, d database.Dialect, f Filter) (string, []any, error) {
	if f.InstanceID == "" && !f.AllInstances {
		return "", nil, failure.InvalidArgument("instance_id", "an event query needs an instance")
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
	var types []string
	if len(f.EventTypes) > 0 {
		ph := make([]string, len(f.EventTypes))
		for i, v := range f.EventTypes {
			ph[i] = arg(v)
		}
		types = append(types, "event_type IN ("+strings.Join(ph, ", ")+")")
	}
	for _, p := range f.EventTypePrefixes {
		types = append(types, "event_type LIKE "+arg(likePrefix(p))+` ESCAPE '\'`)
	}
	if len(types) > 0 {
		where = append(where, "("+strings.Join(types, " OR ")+")")
	}
	if f.Owner != "" {
		where = append(where, "owner = "+arg(f.Owner))
	}
	if f.EditorUserID != "" {
		where = append(where, "editor_user = "+arg(f.EditorUserID))
	}
	if f.EditorClientID != "" {
		where = append(where, "editor_client = "+arg(f.EditorClientID))
	}
	if f.EditorSessionID != "" {
		where = append(where, "editor_session = "+arg(f.EditorSessionID))
	}
	if f.EditorNetwork.IsValid() {
		lo, hi := addressRange(f.EditorNetwork)
		if lo == hi {
			where = append(where, "editor_address = "+arg(lo))
		} else {
			where = append(where, "editor_address BETWEEN "+arg(lo)+" AND "+arg(hi))
		}
	}
	// With an instance, a time range is answered through positions (below):
	// "+ 0" keeps the planners from reading the range's index entries and
	// sorting them instead, and from estimating the range twice (once as
	// times, once as the positions they bound).
	created := "created_at"
	if f.boundedByTime() {
		created = "created_at + 0"
	}
	if !f.CreatedFrom.IsZero() {
		where = append(where, created+" >= "+arg(f.CreatedFrom.UnixMicro()))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, created+" < "+arg(f.CreatedBefore.UnixMicro()))
	}
	// Positions bound the walk along the index of the most selective
	// equality filter (leadColumn), or along commit order. PostgreSQL starts
	// its index scan at a row comparison only when the comparison begins
	// at the column after the index's equalities, and would take any index
	// on (tx_id, position) for a bare one, so there the lead column leads
	// the comparison; SQLite reads (tx_id, position) after the equalities.
	lead, leadValue := leadColumn(f)
	bound := func(op string, p Position) {
		if lead != "" && d == database.Postgres {
			where = append(where, fmt.Sprintf("(%s, tx_id, position) %s (%s, %s, %s)", lead, op, arg(leadValue), arg(p.TxID), arg(p.Global)))
			return
		}
		where = append(where, fmt.Sprintf("(tx_id, position) %s (%s, %s)", op, arg(p.TxID), arg(p.Global)))
	}
	if !f.After.IsZero() {
		bound(">", f.After)
	}
	if !f.Until.IsZero() {
		bound("<=", f.Until)
	}
	if f.boundedByTime() {
		lo, hi, err := timeBounds(ctx, q, f.InstanceID, f.CreatedFrom, f.CreatedBefore)
		if err != nil {
			return "", nil, err
		}
		if !lo.IsZero() {
			bound(">", lo)
		}
		if !hi.IsZero() {
			bound("<", hi)
		}
	}
	if f.Settled {
		where = append(where, settledSQL(d))
	}
	query := `SELECT instance_id, aggregate_type, aggregate_id, owner, sequence, tx_id, position,
	event_type, payload_version, payload, editor_user, editor_client, created_at, personal, editor_session, editor_address FROM events`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	if f.oneAggregate() {
		query += " ORDER BY sequence"
	} else {
		query += " ORDER BY tx_id, position"
	}
	if f.Limit > 0 {
		query += " LIMIT " + arg(f.Limit)
	}
	return query, args, nil
}

// joinPersonal restores an event's sealed personal fields, or marks them
// erased when the subject's key is gone.
func (s *Store) joinPersonal(e *Event, open func(string, string, []byte) ([]byte, error), sealed []byte) error {
	p, ok := e.Payload.(Personal)
	if !ok || open == nil {
		return fmt.Errorf("eventstore: event %s of %s has sealed personal data but no way to open it", e.Position, e.Aggregate)
	}
	plain, err := open(e.Aggregate.InstanceID, e.Aggregate.ID, sealed)
	if errors.Is(err, ErrErased) {
		p.ErasePersonal(e.Aggregate.ID)
		e.PersonalErased = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("eventstore: open personal data of %s: %w", e.Aggregate, err)
	}
	if err := p.JoinPersonal(plain); err != nil {
		return fmt.Errorf("eventstore: personal data of %s: %w", e.Aggregate, err)
	}
	return nil
}

// Sequence returns an aggregate's current sequence (0 for one without
// events), for a command that decides from read models rather than from
// the aggregate's events and still wants Push to refuse its append if the
// aggregate changed after it read them. One read of the events_aggregate
// index.
func (s *Store) Sequence(ctx context.Context, a Aggregate) (int64, error) {
	var seq int64
	if err := s.db.Reader().QueryRowContext(ctx, `SELECT COALESCE(MAX(sequence), 0) FROM events
WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3`, a.InstanceID, a.Type, a.ID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("eventstore: sequence of %s: %w", a, err)
	}
	return seq, nil
}

// likePrefix is a LIKE pattern (escape character \) matching what starts
// with prefix, whose own % and _ match only themselves.
func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}
