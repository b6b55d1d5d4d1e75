package history

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// MaxEvents bounds the events one question replays.
const MaxEvents = 1_000_000

// Ref names an aggregate.
type Ref struct {
	Type string
	ID   string
}

// Replayer replays events into scratch databases.
type Replayer struct {
	store       *eventstore.Store
	migrations  []database.Migration
	projections []eventstore.Projection

	// template is an empty database with every migration applied, made
	// once and loaded for each question: migrating costs far more than
	// replaying a user's events.
	once        sync.Once
	template    []byte
	templateErr error
}

// New returns a replayer over the live store, with the migrations and
// projections of the live read models (the application's).
func New(store *eventstore.Store, migrations []database.Migration, projections []eventstore.Projection) *Replayer {
	return &Replayer{store: store, migrations: migrations, projections: projections}
}

// Scratch is a replayed database, in memory: read it with the read
// models' queries, then Close it.
type Scratch struct {
	DB *database.DB
	// Events are the events replayed, in commit order.
	Events []eventstore.Event
}

// Close frees the scratch database.
func (s *Scratch) Close() { s.DB.Close() }

// Replay folds the events of refs created before until (all of them when
// until is zero) into a scratch database. An aggregate type no projection
// follows replays nothing. Aggregates without personal data start from
// their newest snapshot (see SnapshotEvery); Scratch.Events then holds the
// events folded after it.
func (r *Replayer) Replay(ctx context.Context, instanceID string, refs []Ref, until time.Time) (*Scratch, error) {
	key := snapshotKey(refs)
	var from snapshot
	var fromSnapshot bool
	if key != "" {
		var err error
		if from, fromSnapshot, err = r.latestSnapshot(ctx, instanceID, key, until); err != nil {
			return nil, err
		}
	}
	var events []eventstore.Event
	seen := map[Ref]bool{}
	for _, ref := range refs {
		if ref.ID == "" || seen[ref] {
			continue
		}
		seen[ref] = true
		evs, err := r.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{ref.Type}, AggregateIDs: []string{ref.ID},
			CreatedBefore: until, After: from.after, Limit: MaxEvents + 1})
		if err != nil {
			return nil, err
		}
		if !fromSnapshot {
			if err := r.complete(ctx, instanceID, ref.Type, ref.ID, evs); err != nil {
				return nil, err
			}
		}
		events = append(events, evs...)
		if len(events) > MaxEvents {
			return nil, failure.FailedPrecondition("the history asked for holds more than %d events", MaxEvents)
		}
	}
	slices.SortFunc(events, func(a, b eventstore.Event) int {
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
	r.once.Do(func() { r.template, r.templateErr = r.makeTemplate(ctx) })
	if r.templateErr != nil {
		return nil, r.templateErr
	}
	image := r.template
	if fromSnapshot {
		image = from.image
	}
	db, err := database.OpenSQLiteMemory(ctx, image)
	if err != nil {
		return nil, err
	}
	s := &Scratch{DB: db, Events: events}
	byType := map[string][]eventstore.Projection{}
	for _, p := range r.projections {
		for _, t := range p.EventTypes() {
			byType[t] = append(byType[t], p)
		}
	}
	lastCreated := from.lastCreated
	for start := 0; start < len(events); start += SnapshotEvery {
		chunk := events[start:min(start+SnapshotEvery, len(events))]
		err = db.InTx(ctx, func(tx *database.Tx) error {
			for i := range chunk {
				if chunk[i].CreatedAt.After(lastCreated) {
					lastCreated = chunk[i].CreatedAt
				}
				for _, p := range byType[chunk[i].Type] {
					if err := p.Reduce(ctx, tx, &chunk[i]); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err == nil && key != "" && len(chunk) == SnapshotEvery {
			err = r.saveSnapshot(ctx, db, instanceID, key, chunk[len(chunk)-1], lastCreated)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// makeTemplate migrates an empty database and returns its image.
func (r *Replayer) makeTemplate(ctx context.Context) ([]byte, error) {
	db, err := database.OpenSQLiteMemory(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Migrate(ctx, r.migrations); err != nil {
		return nil, err
	}
	return db.Serialize(ctx)
}
