package eventstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/keyring"
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

// pushBatch appends n events to one new aggregate.
func pushBatch(ctx context.Context, store *eventstore.Store, id int64, n int) error {
	events := make([]eventstore.Payload, n)
	for i := range events {
		events[i] = &benchHappened{Name: "happened"}
	}
	_, err := store.Push(ctx, benchEditor, eventstore.Append{Aggregate: benchAggregate(id), ExpectedSequence: eventstore.NewAggregate, Events: events})
	return err
}

func benchSigner(b *testing.B) eventstore.ChainSigner {
	k, err := keyring.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	ring, err := keyring.New(k)
	if err != nil {
		b.Fatal(err)
	}
	return eventstore.KeyRingSigner(ring)
}

// BenchmarkChain measures the hash chain (docs/audit.md) on each backend:
//
//   - append-chained: one event appended and chained at once, as on a
//     quiet server, against the same append to a database without a
//     chainer (ratio);
//   - link-batch: linking batches of 100 settled events (reading them,
//     hashing, a link row each, the head, a checkpoint every 10,000),
//     against delivering the same events to a subscription that does
//     nothing, alternating (link-events/s, deliver-events/s, ratio);
//   - verify: verifying an instance's chain of 10,000 events against
//     reading the same events with Query (verify-events/s, read-events/s).
//
// After the runs it reports the bytes a link takes on disk next to the
// bytes of an event (SQLite: dbstat; PostgreSQL: relation sizes).
func BenchmarkChain(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			ctx := context.Background()
			chained := openBenchStore(b, backend.New(b))
			plain := openBenchStore(b, backend.New(b))
			chain := &eventstore.Chain{Store: chained, Signer: benchSigner(b)}
			b.Run("append-chained", func(b *testing.B) {
				// The chainer runs beside the appends, as in a server: it
				// wakes at every append and links what has settled.
				runCtx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() {
					defer close(done)
					chain.Run(runCtx, time.Second, slog.New(slog.DiscardHandler))
				}()
				base := time.Now().UnixNano()
				pairbench.Alternate(b, "append-chained", func(i int) error {
					return appendOne(ctx, chained, base+int64(i))
				}, "append", func(i int) error {
					return appendOne(ctx, plain, base+int64(i))
				})
				stop()
				<-done
			})
			b.Run("link-batch", func(b *testing.B) {
				const batch = 100
				sub := eventstore.Subscription{Name: "bench-deliver", BatchSize: batch,
					Handle: func(context.Context, *database.Tx, []eventstore.Event) error { return nil }}
				if _, err := chained.CatchUp(ctx, sub); err != nil {
					b.Fatal(err)
				}
				base := time.Now().UnixNano()
				var link, deliver time.Duration
				var linked, delivered int
				for i := range b.N {
					if err := pushBatch(ctx, chained, base+int64(i), batch); err != nil {
						b.Fatal(err)
					}
					sides := []func() (int, error){
						func() (int, error) { return chain.CatchUp(ctx) },
						func() (int, error) { return chained.CatchUp(ctx, sub) },
					}
					took := []*time.Duration{&link, &deliver}
					// On PostgreSQL an event waits until it settles (every
					// older transaction of the server ended), so a round
					// may handle fewer or more events than it appended.
					handled := []*int{&linked, &delivered}
					for k := range 2 {
						j := (k + i) % 2
						start := time.Now()
						n, err := sides[j]()
						*took[j] += time.Since(start)
						*handled[j] += n
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(linked)/link.Seconds(), "link-events/s")
				b.ReportMetric(float64(delivered)/deliver.Seconds(), "deliver-events/s")
				b.ReportMetric((link.Seconds()/float64(linked))/(deliver.Seconds()/float64(delivered)), "ratio")
			})
			b.Run("verify", func(b *testing.B) {
				const events = 10000
				inst := benchAggregate(0).InstanceID
				var have int
				if err := chained.DB().Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE instance_id = $1`, inst).Scan(&have); err != nil {
					b.Fatal(err)
				}
				for id := time.Now().UnixNano(); have < events; id++ {
					n := min(1000, events-have)
					if err := pushBatch(ctx, chained, id, n); err != nil {
						b.Fatal(err)
					}
					have += n
				}
				if _, err := chain.CatchUp(ctx); err != nil {
					b.Fatal(err)
				}
				var verify, read time.Duration
				for i := range b.N {
					sides := []func() error{
						func() error {
							rep, err := chained.VerifyChain(ctx, inst, chain.Signer, nil)
							if err == nil && (rep.Break != nil || rep.Events != int64(have)) {
								err = fmt.Errorf("verify: %+v %v", rep, rep.Break)
							}
							return err
						},
						func() error {
							got, err := chained.Query(ctx, eventstore.Filter{InstanceID: inst})
							if err == nil && len(got) != have {
								err = fmt.Errorf("read %d events, want %d", len(got), have)
							}
							return err
						},
					}
					took := []*time.Duration{&verify, &read}
					for k := range 2 {
						j := (k + i) % 2
						start := time.Now()
						if err := sides[j](); err != nil {
							b.Fatal(err)
						}
						*took[j] += time.Since(start)
					}
				}
				b.ReportMetric(float64(b.N*have)/verify.Seconds(), "verify-events/s")
				b.ReportMetric(float64(b.N*have)/read.Seconds(), "read-events/s")
				b.ReportMetric(verify.Seconds()/read.Seconds(), "ratio")
				linkBytes, eventBytes := diskBytes(b, chained.DB())
				b.ReportMetric(linkBytes, "link-bytes/event")
				b.ReportMetric(eventBytes, "bytes/event")
			})
		})
	}
}

// diskBytes returns the bytes on disk per row of event_chain and of events,
// indexes included.
func diskBytes(b *testing.B, db *database.DB) (link, event float64) {
	ctx := context.Background()
	var links, events, linkSize, eventSize float64
	r := db.Reader()
	if err := r.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM event_chain), (SELECT COUNT(*) FROM events)`).Scan(&links, &events); err != nil {
		b.Fatal(err)
	}
	var err error
	if db.Dialect == database.Postgres {
		err = r.QueryRowContext(ctx, `SELECT pg_total_relation_size('event_chain'), pg_total_relation_size('events')`).Scan(&linkSize, &eventSize)
	} else {
		err = r.QueryRowContext(ctx, `SELECT
	(SELECT SUM(pgsize) FROM dbstat WHERE name = 'event_chain'),
	(SELECT SUM(pgsize) FROM dbstat WHERE name = 'events' OR name LIKE 'events\_%' ESCAPE '\' OR name LIKE 'sqlite_autoindex_events%')`).Scan(&linkSize, &eventSize)
	}
	if err != nil {
		b.Fatal(err)
	}
	return linkSize / links, eventSize / events
}
