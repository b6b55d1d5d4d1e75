package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/clientaddr"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// ErrConcurrentModification is the cause of the Conflict returned when an
// aggregate changed after the caller read it. The caller may re-read and retry.
var ErrConcurrentModification = errors.New("concurrent modification")

// Sequence expectations for Append.ExpectedSequence.
const (
	// NewAggregate expects that the aggregate has no events yet.
	NewAggregate int64 = 0
	// AnySequence skips the optimistic concurrency check.
	AnySequence int64 = -1
)

// Append is the events to add to one aggregate, with the unique values they
// claim or release.
type Append struct {
	Aggregate
	// ExpectedSequence is the sequence of the last event the caller based its
	// decision on: NewAggregate for a new aggregate, AnySequence for none.
	ExpectedSequence int64
	Events           []Payload
	Unique           []Unique
	// ErasePersonal destroys the aggregate's personal-data key after the
	// events are stored (GDPR erasure): every personal field of its events,
	// these included, becomes unreadable.
	ErasePersonal bool
}

// Unique claims (or, with Remove, releases) a value that must be unique per
// instance — or per Scope within it, e.g. an organization's id. Field names
// the input the value came from, for the error a clash produces.
type Unique struct {
	Kind   string
	Scope  string
	Value  string
	Field  string
	Remove bool
	// FoldCase compares the value case-insensitively (strings.ToLower).
	// A value with a normal form of its own, such as a login name's
	// RFC 8265 key, is claimed in that form without FoldCase.
	FoldCase bool
	// Global makes the value unique across all instances (instance domains).
	Global bool
}

func (u Unique) instance(appendInstance string) string {
	if u.Global {
		return ""
	}
	return appendInstance
}

func (u Unique) value() string {
	if u.FoldCase {
		return strings.ToLower(u.Value)
	}
	return u.Value
}

// Options configure a Store.
type Options struct {
	// Now is the clock events are stamped with; time.Now by default.
	Now func() time.Time
	// Sealer seals the personal fields of Personal payloads. Without one
	// (tests of single packages), personal fields stay in the payload.
	Sealer Sealer
}

// Store appends and reads events and keeps the inline projections current.
type Store struct {
	db          *database.DB
	registry    *Registry
	projections []Projection
	byType      map[string][]Projection
	now         func() time.Time
	sealer      Sealer
	metrics     *metrics
	// maxStampAge bounds how long an append may take from its time stamp
	// to its last write (see timeBounds).
	maxStampAge time.Duration

	mu      sync.Mutex
	changed chan struct{}
}

// New returns a store over db. Every projection is updated in the same
// transaction as the events it handles.
func New(db *database.DB, registry *Registry, projections []Projection, opts Options) (*Store, error) {
	s := &Store{
		db:          db,
		registry:    registry,
		projections: projections,
		byType:      map[string][]Projection{},
		now:         opts.Now,
		sealer:      opts.Sealer,
		metrics:     newMetrics(),
		maxStampAge: maxStampAge,
		changed:     make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	names := map[string]bool{}
	for _, p := range projections {
		if names[p.Name()] {
			return nil, fmt.Errorf("eventstore: projection %q registered twice", p.Name())
		}
		names[p.Name()] = true
		for _, t := range p.EventTypes() {
			if _, ok := registry.types[t]; !ok {
				return nil, fmt.Errorf("eventstore: projection %q handles unregistered event type %q", p.Name(), t)
			}
			s.byType[t] = append(s.byType[t], p)
		}
	}
	return s, nil
}

// DB returns the database the store writes to.
func (s *Store) DB() *database.DB { return s.db }

// Changed returns a channel that is closed at the next successful Push.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

type encoded struct {
	payload  Payload
	version  int
	data     []byte
	personal []byte // plaintext JSON of the personal fields, sealed in the transaction
}

// Push appends the events of every Append atomically: all of them are
// stored, their unique values claimed and the projections updated, or
// nothing is. It returns the stored events in order.
//
// A stale ExpectedSequence, or a concurrent Push to the same aggregate that
// commits first, fails with a failure.Conflict wrapping
// ErrConcurrentModification. A unique value already claimed fails with
// failure.AlreadyExists naming the Unique's Field.
func (s *Store) Push(ctx context.Context, editor Editor, appends ...Append) (stored []Event, err error) {
	if len(appends) == 0 {
		return nil, nil
	}
	defer func(start time.Time) { s.metrics.observe(start, len(stored), err) }(time.Now())
	if editor.Address == "" {
		if a := clientaddr.From(ctx); a.IsValid() {
			editor.Address = a.String()
		}
	}
	storedAddress, err := encodeAddress(editor.Address)
	if err != nil {
		return nil, err
	}
	if len(editor.SessionID) > 200 {
		return nil, failure.InvalidArgument("editor", "a session id is at most 200 bytes")
	}
	enc := make([][]encoded, len(appends))
	for i, a := range appends {
		if a.InstanceID == "" || a.Type == "" || a.ID == "" {
			return nil, failure.InvalidArgument("aggregate", "instance, type and id are required (got %q %q %q)", a.InstanceID, a.Type, a.ID)
		}
		if len(a.Events) == 0 {
			return nil, failure.InvalidArgument("events", "append to %s has no events", a.Aggregate)
		}
		for _, p := range a.Events {
			v, err := s.registry.version(p)
			if err != nil {
				return nil, err
			}
			public, personal := p, []byte(nil)
			if pp, ok := p.(Personal); ok && s.sealer != nil {
				var err error
				if public, personal, err = pp.SplitPersonal(); err != nil {
					return nil, fmt.Errorf("eventstore: split personal data of %s: %w", p.EventType(), err)
				}
			}
			data, err := json.Marshal(public)
			if err != nil {
				return nil, fmt.Errorf("eventstore: encode %s: %w", p.EventType(), err)
			}
			enc[i] = append(enc[i], encoded{payload: p, version: v, data: data, personal: personal})
		}
	}

	// The statements are prepared once and kept (database.DB.Prepared):
	// on SQLite compiling them cost about a tenth of a sign-in's own work.
	// Prepared before the transaction, which on SQLite holds the one
	// write connection.
	seqStmt, err := s.db.Prepared(ctx, sequenceSQL)
	if err != nil {
		return nil, fmt.Errorf("eventstore: prepare: %w", err)
	}
	txStmt, err := s.db.Prepared(ctx, nextTxSQL)
	if err != nil {
		return nil, fmt.Errorf("eventstore: prepare: %w", err)
	}
	insertStmt, err := s.db.Prepared(ctx, insertEventSQL(s.db.Dialect))
	if err != nil {
		return nil, fmt.Errorf("eventstore: prepare: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *database.Tx) error {
		stored = stored[:0]
		// Every read comes before the first write: on PostgreSQL a
		// transaction's id is assigned at its first write, so an append that
		// saw another's events always gets the larger transaction id, and
		// commit order agrees with each aggregate's sequence.
		current := make([]int64, len(appends))
		for i, a := range appends {
			if err := tx.StmtContext(ctx, seqStmt).QueryRowContext(ctx, a.InstanceID, a.Type, a.ID).Scan(&current[i]); err != nil {
				return fmt.Errorf("eventstore: read sequence of %s: %w", a.Aggregate, err)
			}
			for j := range i {
				if appends[j].Aggregate == a.Aggregate {
					current[i] += int64(len(appends[j].Events))
				}
			}
			if a.ExpectedSequence != AnySequence && a.ExpectedSequence != current[i] {
				return &failure.Error{Kind: failure.KindConflict, Cause: ErrConcurrentModification,
					Message: fmt.Sprintf("%s changed: expected sequence %d, found %d", a.Aggregate, a.ExpectedSequence, current[i])}
			}
		}
		// The time stamp is taken before the first write, and the append
		// is refused if it is older than maxStampAge when the last event
		// is written: a transaction id (taken at the first write) then
		// lies within that window after its events' time, which is what
		// lets a time range be bounded by positions (timeBounds).
		stamped := time.Now()
		now := s.now().UTC().Truncate(time.Microsecond)
		var txID int64
		if tx.Dialect == database.SQLite {
			if err := tx.StmtContext(ctx, txStmt).QueryRowContext(ctx).Scan(&txID); err != nil {
				return fmt.Errorf("eventstore: next transaction id: %w", err)
			}
		}
		for _, a := range appends {
			if err := applyUnique(ctx, tx, a.InstanceID, a.Unique); err != nil {
				return err
			}
		}
		var err error
		for i, a := range appends {
			for j, e := range enc[i] {
				ev := Event{
					Aggregate: a.Aggregate,
					Sequence:  current[i] + int64(j) + 1,
					Type:      e.payload.EventType(),
					Version:   e.version,
					Payload:   e.payload,
					Editor:    editor,
					CreatedAt: now,
				}
				var sealed []byte
				if e.personal != nil {
					if sealed, err = s.sealer.Seal(ctx, tx, a.InstanceID, a.ID, e.personal); err != nil {
						return fmt.Errorf("eventstore: seal personal data of %s: %w", ev.Type, err)
					}
				}
				args := []any{a.InstanceID, a.Type, a.ID, ev.Sequence, a.Owner, ev.Type, ev.Version, string(e.data),
					editor.UserID, editor.ClientID, now.UnixMicro(), sealed, editor.SessionID, storedAddress}
				if tx.Dialect == database.SQLite {
					args = append(args, txID)
				}
				if err := tx.StmtContext(ctx, insertStmt).QueryRowContext(ctx, args...).Scan(&ev.Position.Global, &ev.Position.TxID); err != nil {
					if database.IsUniqueViolation(err) {
						return &failure.Error{Kind: failure.KindConflict, Cause: ErrConcurrentModification,
							Message: fmt.Sprintf("%s was changed concurrently", a.Aggregate)}
					}
					return fmt.Errorf("eventstore: insert %s: %w", ev.Type, err)
				}
				stored = append(stored, ev)
			}
		}
		if time.Since(stamped) > s.maxStampAge {
			return failure.Unavailable("the append took more than %s to write its events after their time stamp; try again", s.maxStampAge)
		}
		for i := range stored {
			if err := s.reduce(ctx, tx, &stored[i]); err != nil {
				return err
			}
		}
		for _, a := range appends {
			if !a.ErasePersonal || s.sealer == nil {
				continue // without a Sealer nothing was sealed, and there is no key to destroy
			}
			if err := s.sealer.Erase(ctx, tx, a.InstanceID, a.ID); err != nil {
				return fmt.Errorf("eventstore: erase personal data of %s: %w", a.Aggregate, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return stored, nil
}

// The statements of every append.
const (
	// sequenceSQL is an aggregate's last sequence. An aggregate whose
	// events were all archived continues from its last archived
	// sequence; the second lookup runs only when the aggregate has no
	// events in the table (a new one).
	sequenceSQL = `SELECT COALESCE(
	(SELECT MAX(sequence) FROM events WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3),
	(SELECT sequence FROM event_archived_sequences WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3),
	0)`
	// nextTxSQL is the next transaction id on SQLite, where writers are
	// serialized (PostgreSQL assigns its own).
	nextTxSQL = `SELECT COALESCE(MAX(tx_id), 0) + 1 FROM events`
)

func (s *Store) reduce(ctx context.Context, tx *database.Tx, e *Event) error {
	for _, p := range s.byType[e.Type] {
		if err := p.Reduce(ctx, tx, e); err != nil {
			return fmt.Errorf("eventstore: projection %s on %s: %w", p.Name(), e.Type, err)
		}
	}
	return nil
}

func applyUnique(ctx context.Context, tx *database.Tx, instanceID string, unique []Unique) error {
	for _, u := range unique {
		if u.Remove {
			if _, err := tx.ExecContext(ctx, `DELETE FROM unique_constraints
WHERE instance_id = $1 AND kind = $2 AND scope = $3 AND value = $4`, u.instance(instanceID), u.Kind, u.Scope, u.value()); err != nil {
				return fmt.Errorf("eventstore: release unique %s: %w", u.Kind, err)
			}
		}
	}
	for _, u := range unique {
		if u.Remove {
			continue
		}
		if u.Kind == "" || u.Value == "" {
			return failure.InvalidArgument(u.Field, "a unique value needs a kind and a value")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO unique_constraints (instance_id, kind, scope, value)
VALUES ($1, $2, $3, $4)`, u.instance(instanceID), u.Kind, u.Scope, u.value())
		if database.IsUniqueViolation(err) {
			field := u.Field
			if field == "" {
				field = u.Kind
			}
			e := failure.AlreadyExists("%q is already taken", u.Value)
			e.Field = field
			return e
		}
		if err != nil {
			return fmt.Errorf("eventstore: claim unique %s: %w", u.Kind, err)
		}
	}
	return nil
}
