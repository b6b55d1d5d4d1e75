package eventstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/pairbench"
)

// Benchmarks of the event store on each backend (docs/benchmarks.md).
// BenchmarkAppend alternates an append with a bare INSERT of a row of the
// same shape, the database's own cost of what an append stores, so that
// the append is read as a ratio against a reference measured in the same
// moment.

// benchHappened is the benchmarks' event.
type benchHappened struct {
	Name string `json:"name"`
}

func (benchHappened) EventType() string { return "bench.happened" }

var benchEditor = eventstore.Editor{UserID: "bench-user", ClientID: "bench-client"}

func benchAggregate(id int64) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: "bench", Type: "bench", ID: fmt.Sprintf("agg-%d", id), Owner: "org-1"}
}

// forEachBackend runs fn as a sub-benchmark per backend; PostgreSQL skips as
// in dbtest when it is not configured.
func forEachBackend(b *testing.B, fn func(b *testing.B, src dbtest.Source)) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) { fn(b, backend.New(b)) })
	}
}

// openBenchStore opens a store without projections or sealing over a
// fresh database, migrated with the event store's migrations and extra.
func openBenchStore(b *testing.B, src dbtest.Source, extra ...database.Migration) *eventstore.Store {
	b.Helper()
	reg := eventstore.NewRegistry()
	eventstore.Register[benchHappened](reg, 1)
	db := src.Open(b, append(slices.Clone(eventstore.Migrations), extra...))
	store, err := eventstore.New(db, reg, nil, eventstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return store
}

// appendOne pushes one event to a new aggregate.
func appendOne(ctx context.Context, store *eventstore.Store, id int64) error {
	_, err := store.Push(ctx, benchEditor, eventstore.Append{
		Aggregate:        benchAggregate(id),
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&benchHappened{Name: "happened"}},
	})
	return err
}

// BenchmarkAppend appends one event to a new aggregate per iteration, one
// append at a time, alternating with a reference: a bare INSERT of a row of
// the same columns and primary key in its own transaction, in the same
// database (no secondary indexes, no sequence check, no event store code).
// Neither side has projections or sealing.
func BenchmarkAppend(b *testing.B) {
	forEachBackend(b, func(b *testing.B, src dbtest.Source) {
		ctx := context.Background()
		store := openBenchStore(b, src, referenceMigration)
		db := store.DB()
		pairbench.Alternate(b, "append", func(i int) error {
			return appendOne(ctx, store, int64(i))
		}, "insert", func(i int) error {
			return db.InTx(ctx, func(tx *database.Tx) error {
				a := benchAggregate(int64(i))
				_, err := tx.ExecContext(ctx, `INSERT INTO reference_rows (instance_id, aggregate_type, aggregate_id, sequence,
	owner, event_type, payload_version, payload, editor_user, editor_client, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
					a.InstanceID, a.Type, a.ID, 1, a.Owner, "bench.happened", 1, `{"name":"happened"}`,
					benchEditor.UserID, benchEditor.ClientID, time.Now().UnixMicro())
				return err
			})
		})
	})
}

// BenchmarkAppendParallel is BenchmarkAppend from 4×GOMAXPROCS goroutines.
func BenchmarkAppendParallel(b *testing.B) {
	forEachBackend(b, func(b *testing.B, src dbtest.Source) {
		ctx := context.Background()
		store := openBenchStore(b, src)
		var next atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := appendOne(ctx, store, next.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	})
}

// BenchmarkSubscriberCatchUp delivers b.N stored events to a new
// subscription with a handler that does nothing, in the default batch size.
func BenchmarkSubscriberCatchUp(b *testing.B) {
	const perPush = 100
	forEachBackend(b, func(b *testing.B, src dbtest.Source) {
		ctx := context.Background()
		store := openBenchStore(b, src)
		for pushed := 0; pushed < b.N; pushed += perPush {
			events := make([]eventstore.Payload, min(perPush, b.N-pushed))
			for i := range events {
				events[i] = &benchHappened{Name: "happened"}
			}
			if _, err := store.Push(ctx, benchEditor, eventstore.Append{
				Aggregate:        benchAggregate(int64(pushed)),
				ExpectedSequence: eventstore.NewAggregate,
				Events:           events,
			}); err != nil {
				b.Fatal(err)
			}
		}
		sub := eventstore.Subscription{
			Name:   "bench",
			Handle: func(context.Context, *database.Tx, []eventstore.Event) error { return nil },
		}
		b.ResetTimer()
		delivered, err := store.CatchUp(ctx, sub)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if delivered != b.N {
			// On PostgreSQL, a transaction left open on the same server
			// holds events back as unsettled.
			b.Fatalf("caught up on %d events, want %d", delivered, b.N)
		}
		b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "events/s")
	})
}

// referenceMigration is BenchmarkAppend's reference: a plain table with the
// columns and primary key of events, without the event store's secondary
// indexes and triggers.
var referenceMigration = database.Migration{
	Name: "eventstore_bench/0001_reference_rows",
	SQLite: `CREATE TABLE reference_rows (
	instance_id TEXT NOT NULL,
	aggregate_type TEXT NOT NULL,
	aggregate_id TEXT NOT NULL,
	sequence INTEGER NOT NULL,
	owner TEXT NOT NULL,
	event_type TEXT NOT NULL,
	payload_version INTEGER NOT NULL,
	payload TEXT NOT NULL,
	editor_user TEXT NOT NULL,
	editor_client TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, aggregate_type, aggregate_id, sequence)
)`,
	Postgres: `CREATE TABLE reference_rows (
	instance_id TEXT NOT NULL,
	aggregate_type TEXT NOT NULL,
	aggregate_id TEXT NOT NULL,
	sequence BIGINT NOT NULL,
	owner TEXT NOT NULL,
	event_type TEXT NOT NULL,
	payload_version INTEGER NOT NULL,
	payload JSONB NOT NULL,
	editor_user TEXT NOT NULL,
	editor_client TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, aggregate_type, aggregate_id, sequence)
)`,
}
