package eventstore_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Benchmarks of the event store on each backend. BenchmarkReferenceInsert
// measures the database's own cost for one committed row of the same shape,
// so that results are read as a ratio against it (docs/benchmarks.md).

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

func openBenchStore(b *testing.B, src dbtest.Source) *eventstore.Store {
	b.Helper()
	reg := eventstore.NewRegistry()
	eventstore.Register[benchHappened](reg, 1)
	store, err := eventstore.New(src.Open(b, eventstore.Migrations), reg, nil, eventstore.Options{})
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

// reportLatency reports the rate of operations and the median and 99th
// percentile of their durations.
func reportLatency(b *testing.B, unit string, durations []time.Duration) {
	b.ReportMetric(float64(len(durations))/b.Elapsed().Seconds(), unit)
	slices.Sort(durations)
	b.ReportMetric(percentile(durations, 0.50), "p50-µs")
	b.ReportMetric(percentile(durations, 0.99), "p99-µs")
}

// percentile returns the q-quantile of sorted durations in microseconds
// (nearest-rank method).
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	i := min(len(sorted), max(1, rank)) - 1
	return float64(sorted[i]) / float64(time.Microsecond)
}

// BenchmarkAppend appends one event to a new aggregate per operation, one
// append at a time.
func BenchmarkAppend(b *testing.B) {
	forEachBackend(b, func(b *testing.B, src dbtest.Source) {
		ctx := context.Background()
		store := openBenchStore(b, src)
		durations := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			if err := appendOne(ctx, store, int64(i)); err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, "appends/s", durations)
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

// referenceMigration is a plain table with the columns and primary key of
// events, without the event store's secondary indexes and triggers.
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

// BenchmarkReferenceInsert commits one row shaped like BenchmarkAppend's
// event per transaction, with a bare INSERT: the database's own cost of what
// an append stores.
func BenchmarkReferenceInsert(b *testing.B) {
	forEachBackend(b, func(b *testing.B, src dbtest.Source) {
		ctx := context.Background()
		db := src.Open(b, []database.Migration{referenceMigration})
		durations := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			err := db.InTx(ctx, func(tx *database.Tx) error {
				a := benchAggregate(int64(i))
				_, err := tx.ExecContext(ctx, `INSERT INTO reference_rows (instance_id, aggregate_type, aggregate_id, sequence,
	owner, event_type, payload_version, payload, editor_user, editor_client, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
					a.InstanceID, a.Type, a.ID, 1, a.Owner, "bench.happened", 1, `{"name":"happened"}`,
					benchEditor.UserID, benchEditor.ClientID, time.Now().UnixMicro())
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			durations = append(durations, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, "inserts/s", durations)
	})
}
