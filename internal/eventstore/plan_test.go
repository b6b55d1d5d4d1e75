package eventstore_test

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// TestAuditPlans checks, with the database's own EXPLAIN, that each audit
// filter with a time range walks the index of its most selective filter
// from the range's first position — not commit order from the log's first
// event, and not a sort of the range. A time range alone once read 4.5
// million rows on PostgreSQL at 10 million events: the planner walked
// commit order expecting the day spread evenly.
func TestAuditPlans(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := context.Background()
			db, store := writesStore(t, backend, eventstore.Options{})
			// 20,000 events over 200 days: 100 owners, 500 editors and
			// sessions, 3 types, 256 addresses; one statement.
			start := time.Now().Add(-200 * 24 * time.Hour)
			if err := db.InTx(ctx, func(tx *database.Tx) error {
				q := `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version, payload,
	editor_user, editor_client, created_at, tx_id, editor_session, editor_address)
SELECT 'inst', 'write', 'w' || (i / 10), i % 10, 'org-' || (i % 100), 'durable.write' || (i % 3), 1, '{}',
	'ed-' || (i % 500), '', CAST($1 AS BIGINT) + i * CAST($2 AS BIGINT), i, 'sess-' || (i % 500), '00000000000000000000ffff0a0000' || substr('0123456789abcdef', 1 + (i % 16), 1) || substr('0123456789abcdef', 1 + (i / 16 % 16), 1)
FROM `
				if tx.Dialect == database.Postgres {
					q += `generate_series(1, 20000) AS i`
				} else {
					q = `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000) ` + q + `s`
				}
				_, err := tx.ExecContext(ctx, q, start.UnixMicro(), (200 * 24 * time.Hour / 20000).Microseconds())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Optimize(ctx); err != nil {
				t.Fatal(err)
			}
			day := start.Add(100 * 24 * time.Hour)
			inDay := func(f eventstore.Filter) eventstore.Filter {
				f.InstanceID, f.CreatedFrom, f.CreatedBefore, f.Limit, f.Settled = "inst", day, day.Add(24*time.Hour), 101, true
				return f
			}
			for _, tc := range []struct {
				name     string
				filter   eventstore.Filter
				sqlite   string // the index and its constraints in EXPLAIN QUERY PLAN
				postgres string // the index and its row comparison in EXPLAIN
			}{
				{"a day", inDay(eventstore.Filter{}),
					`USING INDEX events_instance_order \(instance_id=\? AND tx_id>\? AND tx_id<\?\)`, `Index Scan using events(_instance)?_order .*\n.*ROW\(tx_id, "position"\) >`},
				{"an organization's types in a day", inDay(eventstore.Filter{Owner: "org-7", EventTypePrefixes: []string{"durable."}}),
					`USING INDEX events_instance_owner \(instance_id=\? AND owner=\? AND tx_id>\? AND tx_id<\?\)`, `Index Scan using events_instance_owner .*\n.*ROW\(owner, tx_id, "position"\) >`},
				{"an editor in a day", inDay(eventstore.Filter{EditorUserID: "ed-7", Owner: "org-7"}),
					`USING INDEX events_instance_editor \(instance_id=\? AND editor_user=\? AND tx_id>\? AND tx_id<\?\)`, `Index Scan using events_instance_editor .*\n.*ROW\(editor_user, tx_id, "position"\) >`},
				{"a session in a day", inDay(eventstore.Filter{EditorSessionID: "sess-7"}),
					`USING INDEX events_instance_session \(instance_id=\? AND editor_session=\? AND tx_id>\? AND tx_id<\?\)`, `Index Scan using events_instance_session .*\n.*ROW\(editor_session, tx_id, "position"\) >`},
				{"an address in a day", inDay(eventstore.Filter{EditorNetwork: netip.MustParsePrefix("10.0.0.17/32")}),
					`USING INDEX events_instance_address \(instance_id=\? AND editor_address=\? AND tx_id>\? AND tx_id<\?\)`, `Index Scan using events_instance_address .*\n.*ROW\(editor_address, tx_id, "position"\) >`},
				{"a type in a day", inDay(eventstore.Filter{EventTypes: []string{"durable.write1"}}),
					`USING INDEX events_instance_type \(instance_id=\? AND event_type=\? AND tx_id>\? AND tx_id<\?\)`, `Index Scan using events_instance_type .*\n.*ROW\(event_type, tx_id, "position"\) >`},
				{"an organization's page after a cursor", eventstore.Filter{InstanceID: "inst", Owner: "org-7", After: eventstore.Position{TxID: 15000, Global: 15000}, Limit: 101},
					`USING INDEX events_instance_owner \(instance_id=\? AND owner=\? AND tx_id>\?\)`, `Index Scan using events_instance_owner .*\n.*ROW\(owner, tx_id, "position"\) >`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					q, args, err := eventstore.QuerySQL(ctx, store, tc.filter)
					if err != nil {
						t.Fatal(err)
					}
					want := tc.postgres
					if db.Dialect == database.SQLite {
						want = tc.sqlite
					}
					plan := strings.Join(dbtest.Explain(t, db, q, args...), "\n")
					if !regexp.MustCompile(want).MatchString(plan) {
						t.Fatalf("plan of %s:\n%s\nwant %s", q, plan, want)
					}
					if strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
						t.Fatalf("plan sorts:\n%s", plan)
					}
				})
			}
		})
	}
}

// TestAggregatePlan: one aggregate's events are read through its index
// however the statistics came about — also on a server that analysed its
// database when it held a handful of events (PRAGMA optimize at start)
// and has appended thousands since: a plan that walks the instance's
// commit order and filters made every command's load, and every password
// sign-in, read the instance's whole history.
func TestAggregatePlan(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := context.Background()
			db, store := writesStore(t, backend, eventstore.Options{})
			insert := func(from, to int) {
				t.Helper()
				if err := db.InTx(ctx, func(tx *database.Tx) error {
					q := `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version, payload,
	editor_user, editor_client, created_at, tx_id, editor_session, editor_address)
SELECT 'inst', CASE WHEN i % 5 = 0 THEN 'user' ELSE 'session' END, 'a' || i, 1, 'org', 'durable.write', 1, '{}', '', '', i, i, '', ''
FROM `
					if tx.Dialect == database.Postgres {
						q += `generate_series(CAST($1 AS BIGINT), CAST($2 AS BIGINT)) AS i`
					} else {
						q = `WITH RECURSIVE s(i) AS (SELECT CAST($1 AS INTEGER) UNION ALL SELECT i + 1 FROM s WHERE i < CAST($2 AS INTEGER)) ` + q + `s`
					}
					_, err := tx.ExecContext(ctx, q, from, to)
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			insert(1, 8)
			if err := db.Optimize(ctx); err != nil {
				t.Fatal(err)
			}
			insert(9, 20000)
			for _, f := range []eventstore.Filter{
				{InstanceID: "inst", AggregateTypes: []string{"user"}, AggregateIDs: []string{"a15"}},
				{InstanceID: "inst", AggregateTypes: []string{"user"}, AggregateIDs: []string{"a15"}, Until: eventstore.Position{TxID: 100, Global: 100}},
			} {
				q, args, err := eventstore.QuerySQL(ctx, store, f)
				if err != nil {
					t.Fatal(err)
				}
				plan := strings.Join(dbtest.Explain(t, db, q, args...), "\n")
				want := `Index (Only )?Scan using events_(aggregate|pkey) .*\n.*Index Cond: .*aggregate_id = `
				if db.Dialect == database.SQLite {
					want = `USING INDEX events_aggregate \(instance_id=\? AND aggregate_type=\? AND aggregate_id=\?\)`
				}
				if !regexp.MustCompile(want).MatchString(plan) || strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort") {
					t.Errorf("plan of %s:\n%s\nwant %s, unsorted", q, plan, want)
				}
			}
		})
	}
}

// writesStore opens an empty store on backend whose events are
// durableWrites.
func writesStore(t *testing.T, backend dbtest.Backend, opts eventstore.Options) (*database.DB, *eventstore.Store) {
	t.Helper()
	db := backend.New(t).Open(t, eventstore.Migrations)
	r := eventstore.NewRegistry()
	eventstore.Register[durableWrite](r, 1)
	store, err := eventstore.New(db, r, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db, store
}
