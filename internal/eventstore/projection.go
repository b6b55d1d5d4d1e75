package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
)

// Projection is a read model kept current inline: Reduce runs in the same
// transaction as the append of every event whose type it lists, so a change
// is readable by the next request (read your writes) and a failed Reduce
// rolls the append back.
//
// A projection must produce the same rows whether it is fed events one
// append at a time or all at once in commit order by Rebuild: Reduce may
// read only rows the projection itself derives from earlier events.
type Projection interface {
	// Name identifies the projection, e.g. for `castellan projections rebuild`.
	Name() string
	// EventTypes lists the event types Reduce handles.
	EventTypes() []string
	// Reduce applies one event to the read model.
	Reduce(ctx context.Context, tx *database.Tx, e *Event) error
	// Reset deletes every row of the read model, before a rebuild.
	Reset(ctx context.Context, tx *database.Tx) error
}

// RebuildFinisher is a Projection with work left once Rebuild has reduced
// every event: it runs in the rebuild's transaction, while appends wait,
// and derives from the rebuilt rows what lives outside them — such as the
// unique claims of a value whose normal form changed (see ReplaceUnique).
type RebuildFinisher interface {
	FinishRebuild(ctx context.Context, tx *database.Tx) error
}

// Versioned is a Projection whose way of deriving rows changed in a way
// that rows written before cannot follow (a new column, a new normal form of
// a value). Version starts at 1 and grows with each such change, noted in
// its doc comment; RebuildOutdated rebuilds the projection once wherever its
// rows are of an older version. A projection that is not Versioned is
// version 0 and never outdated.
type Versioned interface {
	Version() int
}

func versionOf(p Projection) int {
	if v, ok := p.(Versioned); ok {
		return v.Version()
	}
	return 0
}

// Projections returns the names of the registered projections.
func (s *Store) Projections() []string {
	names := make([]string, len(s.projections))
	for i, p := range s.projections {
		names[i] = p.Name()
	}
	return names
}

// rebuildBatch is how many events a rebuild decodes at a time.
const rebuildBatch = 1000

// Rebuild recomputes the named projection from the event log in one
// transaction: its rows are reset and every event it handles, across all
// instances, is reduced again in commit order, then a RebuildFinisher
// finishes. Appends wait while it runs.
// It returns the number of events applied.
func (s *Store) Rebuild(ctx context.Context, name string) (int, error) {
	var p Projection
	for _, candidate := range s.projections {
		if candidate.Name() == name {
			p = candidate
		}
	}
	if p == nil {
		return 0, fmt.Errorf("eventstore: no projection named %q (have %v)", name, s.Projections())
	}
	n := 0
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		if err := lockForRebuild(ctx, tx); err != nil {
			return err
		}
		var err error
		n, err = s.rebuildTx(ctx, tx, p)
		return err
	})
	return n, err
}

// RebuildOutdated rebuilds, each in its own transaction, every Versioned
// projection whose rows are of an older version than its code (an upgrade of
// the binary), and returns their names. Replicas starting together rebuild
// each projection once: the version is read again under the rebuild's lock.
func (s *Store) RebuildOutdated(ctx context.Context) ([]string, error) {
	var rebuilt []string
	var any int
	err := s.db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1) e`).Scan(&any)
	if err != nil {
		return nil, fmt.Errorf("eventstore: %w", err)
	}
	if any == 0 { // a new database: nothing to rebuild, the rows start at the code's version
		return nil, s.db.InTx(ctx, func(tx *database.Tx) error {
			for _, p := range s.projections {
				if err := recordVersion(ctx, tx, p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, p := range s.projections {
		want := versionOf(p)
		if want == 0 {
			continue
		}
		if have, err := projectionVersion(ctx, s.db.Reader(), p.Name()); err != nil || have >= want {
			if err != nil {
				return rebuilt, err
			}
			continue
		}
		done := false
		err := s.db.InTx(ctx, func(tx *database.Tx) error {
			done = false
			if err := lockForRebuild(ctx, tx); err != nil {
				return err
			}
			have, err := projectionVersion(ctx, tx, p.Name())
			if err != nil || have >= want {
				return err
			}
			if _, err := s.rebuildTx(ctx, tx, p); err != nil {
				return err
			}
			done = true
			return nil
		})
		if err != nil {
			return rebuilt, err
		}
		if done {
			rebuilt = append(rebuilt, p.Name())
		}
	}
	return rebuilt, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func projectionVersion(ctx context.Context, q queryRower, name string) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, `SELECT version FROM projection_versions WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("eventstore: version of projection %s: %w", name, err)
	}
	return v, nil
}

func lockForRebuild(ctx context.Context, tx *database.Tx) error {
	if lock := lockEventsForRebuildSQL(tx.Dialect); lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return fmt.Errorf("eventstore: lock events: %w", err)
		}
	}
	return nil
}

// rebuildTx resets p and reduces every event it handles again, then
// finishes a RebuildFinisher and records p's version, in tx.
func (s *Store) rebuildTx(ctx context.Context, tx *database.Tx, p Projection) (int, error) {
	if err := checkNothingArchived(ctx, tx); err != nil {
		return 0, err
	}
	name := p.Name()
	if err := p.Reset(ctx, tx); err != nil {
		return 0, fmt.Errorf("eventstore: reset %s: %w", name, err)
	}
	n := 0
	after := Position{}
	for {
		events, err := s.QueryTx(ctx, tx, Filter{AllInstances: true, EventTypes: p.EventTypes(), After: after, Limit: rebuildBatch})
		if err != nil {
			return 0, err
		}
		for i := range events {
			if err := p.Reduce(ctx, tx, &events[i]); err != nil {
				return 0, fmt.Errorf("eventstore: projection %s on %s: %w", name, events[i].Type, err)
			}
		}
		n += len(events)
		if len(events) < rebuildBatch {
			break
		}
		after = events[len(events)-1].Position
	}
	if f, ok := p.(RebuildFinisher); ok {
		if err := f.FinishRebuild(ctx, tx); err != nil {
			return 0, fmt.Errorf("eventstore: finish rebuild of %s: %w", name, err)
		}
	}
	if err := recordVersion(ctx, tx, p); err != nil {
		return 0, err
	}
	return n, nil
}

func recordVersion(ctx context.Context, tx *database.Tx, p Projection) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO projection_versions (name, version) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET version = excluded.version`, p.Name(), versionOf(p)); err != nil {
		return fmt.Errorf("eventstore: record version of %s: %w", p.Name(), err)
	}
	return nil
}
