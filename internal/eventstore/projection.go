package eventstore

import (
	"context"
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
		n = 0
		if lock := lockEventsForRebuildSQL(tx.Dialect); lock != "" {
			if _, err := tx.ExecContext(ctx, lock); err != nil {
				return fmt.Errorf("eventstore: lock events: %w", err)
			}
		}
		if err := p.Reset(ctx, tx); err != nil {
			return fmt.Errorf("eventstore: reset %s: %w", name, err)
		}
		after := Position{}
		for {
			events, err := s.QueryTx(ctx, tx, Filter{AllInstances: true, EventTypes: p.EventTypes(), After: after, Limit: rebuildBatch})
			if err != nil {
				return err
			}
			for i := range events {
				if err := p.Reduce(ctx, tx, &events[i]); err != nil {
					return fmt.Errorf("eventstore: projection %s on %s: %w", name, events[i].Type, err)
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
				return fmt.Errorf("eventstore: finish rebuild of %s: %w", name, err)
			}
		}
		return nil
	})
	return n, err
}
