package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/clientaddr"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Run runs the whole suite against backend.
func Run(t *testing.T, backend dbtest.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"ok/append and read back", testAppendReadBack},
		{"fail/stale expected sequence", testStaleSequence},
		{"ok/concurrent appends to one aggregate: one wins", testConcurrentAppends},
		{"ok/two processes retry conflicts until all appends land", testTwoProcesses},
		{"ok/unique values are claimed, scoped and released", testUnique},
		{"fail/nothing half-written", testAtomicity},
		{"ok/queries filter and order", testQueries},
		{"ok/a time range is answered through positions and misses nothing", testTimeRanges},
		{"fail/unknown types, versions and fields are loud", testDecoding},
		{"ok/projection is read-your-writes and rebuilds to the same rows", testRebuild},
		{"ok/a rebuild may claim unique values anew from its rows", testReclaimOnRebuild},
		{"ok/a projection whose code is newer than its rows is rebuilt once", testRebuildOutdated},
		{"ok/a new database starts at the projections' versions", testNewDatabaseStartsAtTheCodeVersion},
		{"ok/subscription resumes from its checkpoint", testCheckpoint},
		{"ok/subscription waits for a late commit instead of skipping it", testLateCommit},
		{"ok/subscriber sees every event exactly once under concurrent writers", testConcurrentSubscriber},
		{"fail/events are immutable", testImmutable},
		{"ok/the hash chain links every event and verifies", testChainVerifies},
		{"ok/the chain stays whole under concurrent writers and chainers", testChainConcurrentWriters},
		{"ok/archives move the oldest events out and back, verifiably", testArchive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := backend.New(t)
			tc.fn(t, newHarness(t, src, &thingsProjection{}))
		})
	}
	t.Run("fail/verification finds tampering at the first broken link", func(t *testing.T) { testChainTampering(t, backend) })
}

type harness struct {
	src   dbtest.Source
	db    *database.DB
	store *eventstore.Store
	clock *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func migrations() []database.Migration {
	return append(slices.Clone(eventstore.Migrations), thingsMigration)
}

func newHarness(t *testing.T, src dbtest.Source, p *thingsProjection) *harness {
	t.Helper()
	db := src.Open(t, migrations())
	c := &clock{now: time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)}
	store, err := eventstore.New(db, newRegistry(), []eventstore.Projection{p}, eventstore.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{src: src, db: db, store: store, clock: c}
}

// another opens a second, independent connection pool and store on the same
// database, as a second Castellan process would.
func (h *harness) another(t *testing.T, p *thingsProjection) *harness {
	return newHarness(t, h.src, p)
}

var (
	alice = eventstore.Editor{UserID: "alice", ClientID: "console"}
	bob   = eventstore.Editor{UserID: "bob", SessionID: "sess-b", Address: "198.51.100.23"}
	ctx   = context.Background()
)

func push(t *testing.T, s *eventstore.Store, editor eventstore.Editor, appends ...eventstore.Append) []eventstore.Event {
	t.Helper()
	events, err := s.Push(ctx, editor, appends...)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return events
}

func testAppendReadBack(t *testing.T, h *harness) {
	a := thing("inst-1", "t1")
	stored := push(t, h.store, alice, eventstore.Append{Aggregate: a, Events: []eventstore.Payload{
		&thingAdded{Name: "first"}, &thingRenamed{Name: "second"},
	}})
	if len(stored) != 2 || stored[0].Sequence != 1 || stored[1].Sequence != 2 {
		t.Fatalf("stored sequences: %+v", stored)
	}
	if !stored[0].Position.Less(stored[1].Position) || stored[0].Position.TxID != stored[1].Position.TxID {
		t.Fatalf("positions of one append: %v, %v", stored[0].Position, stored[1].Position)
	}
	push(t, h.store, bob, eventstore.Append{Aggregate: a, ExpectedSequence: 2, Events: []eventstore.Payload{&thingTicked{N: 7}}})

	got, err := h.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read back %d events, want 3", len(got))
	}
	e := got[0]
	if e.Aggregate != a || e.Type != "thing.added" || e.Version != 1 || e.Editor != alice ||
		!e.CreatedAt.Equal(h.clock.Now()) || e.Position != stored[0].Position {
		t.Fatalf("first event read back as %+v", e)
	}
	if p, ok := e.Payload.(*thingAdded); !ok || p.Name != "first" {
		t.Fatalf("payload: %#v", e.Payload)
	}
	if p, ok := got[2].Payload.(*thingTicked); !ok || p.N != 7 || got[2].Editor != bob || got[2].Sequence != 3 {
		t.Fatalf("third event: %+v", got[2])
	}
	if !got[1].Position.Less(got[2].Position) || got[1].Position.TxID >= got[2].Position.TxID {
		t.Fatalf("a later append must sort later: %v then %v", got[1].Position, got[2].Position)
	}
	if _, err := h.store.Push(ctx, alice, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: "inst-1", Type: "thing"}, Events: []eventstore.Payload{&thingAdded{}}}); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("append without aggregate id: %v", err)
	}
	if _, err := h.store.Push(ctx, alice, eventstore.Append{Aggregate: thing("inst-1", "t9")}); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("append without events: %v", err)
	}
}

func testStaleSequence(t *testing.T, h *harness) {
	a := thing("inst-1", "t1")
	push(t, h.store, alice, eventstore.Append{Aggregate: a, Events: []eventstore.Payload{&thingAdded{Name: "x"}}})
	for _, tc := range []struct {
		name     string
		expected int64
	}{{"new aggregate that exists", eventstore.NewAggregate}, {"sequence from the future", 5}} {
		_, err := h.store.Push(ctx, alice, eventstore.Append{Aggregate: a, ExpectedSequence: tc.expected, Events: []eventstore.Payload{&thingTicked{N: 1}}})
		if !failure.Is(err, failure.KindConflict) || !errors.Is(err, eventstore.ErrConcurrentModification) {
			t.Fatalf("%s: got %v, want a conflict", tc.name, err)
		}
	}
	push(t, h.store, alice, eventstore.Append{Aggregate: a, ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&thingTicked{N: 2}}})
}

func testConcurrentAppends(t *testing.T, h *harness) {
	a := thing("inst-1", "t1")
	push(t, h.store, alice, eventstore.Append{Aggregate: a, Events: []eventstore.Payload{&thingAdded{Name: "x"}}})
	const writers = 8
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			_, err := h.store.Push(ctx, alice, eventstore.Append{Aggregate: a, ExpectedSequence: 1, Events: []eventstore.Payload{&thingTicked{N: 1}}})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, eventstore.ErrConcurrentModification):
				conflicts.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != writers-1 {
		t.Fatalf("wins=%d conflicts=%d, want exactly one winner", wins.Load(), conflicts.Load())
	}
}

// appendWithRetry re-reads the aggregate's sequence and retries on conflict,
// as a command does.
func appendWithRetry(s *eventstore.Store, a eventstore.Aggregate, n int) (retries int, err error) {
	for {
		events, err := s.Query(ctx, eventstore.Filter{InstanceID: a.InstanceID, AggregateIDs: []string{a.ID}})
		if err != nil {
			return retries, err
		}
		_, err = s.Push(ctx, alice, eventstore.Append{Aggregate: a, ExpectedSequence: int64(len(events)), Events: []eventstore.Payload{&thingTicked{N: n}}})
		if !errors.Is(err, eventstore.ErrConcurrentModification) {
			return retries, err
		}
		retries++
	}
}

func testTwoProcesses(t *testing.T, h *harness) {
	other := h.another(t, &thingsProjection{})
	a := thing("inst-1", "shared")
	push(t, h.store, alice, eventstore.Append{Aggregate: a, Events: []eventstore.Payload{&thingAdded{Name: "shared"}}})
	const perProcess = 25
	var wg sync.WaitGroup
	var retries atomic.Int32
	for _, s := range []*eventstore.Store{h.store, other.store} {
		for w := range 2 {
			wg.Go(func() {
				for i := range perProcess {
					r, err := appendWithRetry(s, a, w*perProcess+i)
					retries.Add(int32(r))
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	got, err := other.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1", AggregateIDs: []string{"shared"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1+4*perProcess {
		t.Fatalf("%d events stored, want %d", len(got), 1+4*perProcess)
	}
	for i, e := range got {
		if e.Sequence != int64(i+1) {
			t.Fatalf("event %d has sequence %d: sequences must be gap-free", i, e.Sequence)
		}
	}
	rows := dumpThings(t, h.db)
	if want := fmt.Sprintf("inst-1/shared name=shared events=%d seq=%d", 1+4*perProcess, 1+4*perProcess); len(rows) != 1 || rows[0] != want {
		t.Fatalf("projection rows %v, want [%s]", rows, want)
	}
	t.Logf("%d conflicts retried", retries.Load())
}

func testUnique(t *testing.T, h *harness) {
	claim := func(inst, id, scope, value string) error {
		_, err := h.store.Push(ctx, alice, eventstore.Append{
			Aggregate: thing(inst, id), Events: []eventstore.Payload{&thingAdded{Name: value}},
			Unique: []eventstore.Unique{{Kind: "thing_name", Scope: scope, Value: value, Field: "name", FoldCase: true}},
		})
		return err
	}
	if err := claim("inst-1", "t1", "", "Alpha"); err != nil {
		t.Fatal(err)
	}
	err := claim("inst-1", "t2", "", "alpha")
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Kind != failure.KindAlreadyExists || fe.Field != "name" {
		t.Fatalf("case-insensitive duplicate: got %v, want already exists naming the field", err)
	}
	if err := claim("inst-2", "t2", "", "alpha"); err != nil {
		t.Fatalf("another instance may use the value: %v", err)
	}
	global := func(inst, id string) error {
		_, err := h.store.Push(ctx, alice, eventstore.Append{
			Aggregate: thing(inst, id), Events: []eventstore.Payload{&thingAdded{Name: "example.com"}},
			Unique: []eventstore.Unique{{Kind: "domain", Value: "example.com", Field: "domain", Global: true}},
		})
		return err
	}
	if err := global("inst-1", "d1"); err != nil {
		t.Fatal(err)
	}
	if err := global("inst-2", "d1"); !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("a global value in another instance: got %v", err)
	}
	if err := claim("inst-1", "t3", "org-a", "beta"); err != nil {
		t.Fatal(err)
	}
	if err := claim("inst-1", "t4", "org-b", "beta"); err != nil {
		t.Fatalf("another scope may use the value: %v", err)
	}
	if err := claim("inst-1", "t5", "org-a", "BETA"); !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("same scope: got %v", err)
	}
	// Renaming releases the old value and claims the new one atomically.
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t1"), ExpectedSequence: 1,
		Events: []eventstore.Payload{&thingRenamed{Name: "gamma"}},
		Unique: []eventstore.Unique{
			{Kind: "thing_name", Value: "Alpha", Remove: true, FoldCase: true},
			{Kind: "thing_name", Value: "gamma", Field: "name", FoldCase: true},
		}})
	if err := claim("inst-1", "t6", "", "ALPHA"); err != nil {
		t.Fatalf("released value must be free: %v", err)
	}
	if err := claim("inst-1", "t7", "", "Gamma"); !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("renamed value must be taken: %v", err)
	}
}

func testAtomicity(t *testing.T, h *harness) {
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t1"), Events: []eventstore.Payload{&thingAdded{Name: "taken"}},
		Unique: []eventstore.Unique{{Kind: "thing_name", Value: "taken"}}})
	before := dumpThings(t, h.db)
	count := func() int {
		events, err := h.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1"})
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	// A unique clash in the second append rolls back the first.
	_, err := h.store.Push(ctx, alice,
		eventstore.Append{Aggregate: thing("inst-1", "t2"), Events: []eventstore.Payload{&thingAdded{Name: "fresh"}},
			Unique: []eventstore.Unique{{Kind: "thing_name", Value: "fresh"}}},
		eventstore.Append{Aggregate: thing("inst-1", "t3"), Events: []eventstore.Payload{&thingAdded{Name: "taken"}},
			Unique: []eventstore.Unique{{Kind: "thing_name", Value: "taken"}}})
	if !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("got %v", err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d events after a failed push, want 1", n)
	}
	// "fresh" was not left claimed.
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t4"), Events: []eventstore.Payload{&thingAdded{Name: "fresh"}},
		Unique: []eventstore.Unique{{Kind: "thing_name", Value: "fresh"}}})

	// A failing projection rolls back events and unique values.
	failing := h.another(t, &thingsProjection{failOn: "doomed"})
	_, err = failing.store.Push(ctx, alice, eventstore.Append{Aggregate: thing("inst-1", "t5"), Events: []eventstore.Payload{&thingAdded{Name: "doomed"}},
		Unique: []eventstore.Unique{{Kind: "thing_name", Value: "doomed"}}})
	if err == nil {
		t.Fatal("push with a failing projection succeeded")
	}
	if n := count(); n != 2 {
		t.Fatalf("%d events after a failed projection, want 2", n)
	}
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t6"), Events: []eventstore.Payload{&thingAdded{Name: "doomed"}},
		Unique: []eventstore.Unique{{Kind: "thing_name", Value: "doomed"}}})
	if after := dumpThings(t, h.db); len(after) != len(before)+2 {
		t.Fatalf("projection rows %v", after)
	}
}

func testQueries(t *testing.T, h *harness) {
	t0 := h.clock.Now()
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t1"), Events: []eventstore.Payload{&thingAdded{Name: "a"}}})
	h.clock.Set(t0.Add(time.Hour))
	push(t, h.store, bob, eventstore.Append{Aggregate: thing("inst-1", "t2"), Events: []eventstore.Payload{&thingAdded{Name: "b"}}})
	h.clock.Set(t0.Add(2 * time.Hour))
	third := push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t1"), ExpectedSequence: 1, Events: []eventstore.Payload{&thingRenamed{Name: "a2"}}})
	// An editor without an address takes the request's (package clientaddr).
	fromV6 := clientaddr.With(ctx, netip.MustParseAddr("2001:db8::5"))
	if _, err := h.store.Push(fromV6, alice, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: "inst-1", Type: "gadget", ID: "g1", Owner: "org-2"}, Events: []eventstore.Payload{&thingAdded{Name: "g"}}}); err != nil {
		t.Fatal(err)
	}
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-2", "t1"), Events: []eventstore.Payload{&thingAdded{Name: "other instance"}}})
	if _, err := h.store.Push(ctx, eventstore.Editor{UserID: "x", Address: "not an address"}, eventstore.Append{Aggregate: thing("inst-1", "t9"), Events: []eventstore.Payload{&thingAdded{Name: "x"}}}); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("an editor address that is not an IP address: %v", err)
	}

	all, err := h.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := all[1].Editor; got != bob {
		t.Fatalf("editor read back as %+v, want %+v", got, bob)
	}
	if got := all[3].Editor.Address; got != "2001:db8::5" {
		t.Fatalf("address from the context read back as %q", got)
	}
	names := func(events []eventstore.Event) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.Aggregate.ID+":"+e.Type)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		filter eventstore.Filter
		want   []string
	}{
		{"ok/aggregate id", eventstore.Filter{InstanceID: "inst-1", AggregateIDs: []string{"t1"}}, []string{"t1:thing.added", "t1:thing.renamed"}},
		{"ok/aggregate type", eventstore.Filter{InstanceID: "inst-1", AggregateTypes: []string{"gadget"}}, []string{"g1:thing.added"}},
		{"ok/event type", eventstore.Filter{InstanceID: "inst-1", EventTypes: []string{"thing.renamed"}}, []string{"t1:thing.renamed"}},
		{"ok/event type prefix", eventstore.Filter{InstanceID: "inst-1", EventTypePrefixes: []string{"thing.re"}}, []string{"t1:thing.renamed"}},
		{"ok/event type or prefix", eventstore.Filter{InstanceID: "inst-1", EventTypes: []string{"thing.renamed"}, EventTypePrefixes: []string{"thing.add"}},
			[]string{"t1:thing.added", "t2:thing.added", "t1:thing.renamed", "g1:thing.added"}},
		{"ok/a prefix's _ and % match only themselves", eventstore.Filter{InstanceID: "inst-1", EventTypePrefixes: []string{"thing_", "thing%"}}, nil},
		{"ok/editor client", eventstore.Filter{InstanceID: "inst-1", EditorClientID: "console", AggregateIDs: []string{"t1"}}, []string{"t1:thing.added", "t1:thing.renamed"}},
		{"ok/another editor client", eventstore.Filter{InstanceID: "inst-1", EditorClientID: "console", AggregateIDs: []string{"t2"}}, nil},
		{"ok/editor", eventstore.Filter{InstanceID: "inst-1", EditorUserID: "bob"}, []string{"t2:thing.added"}},
		{"ok/owner", eventstore.Filter{InstanceID: "inst-1", Owner: "org-2"}, []string{"g1:thing.added"}},
		{"ok/editor session", eventstore.Filter{InstanceID: "inst-1", EditorSessionID: "sess-b"}, []string{"t2:thing.added"}},
		{"ok/editor address", eventstore.Filter{InstanceID: "inst-1", EditorNetwork: netip.MustParsePrefix("198.51.100.23/32")}, []string{"t2:thing.added"}},
		{"ok/editor network", eventstore.Filter{InstanceID: "inst-1", EditorNetwork: netip.MustParsePrefix("198.51.100.0/24")}, []string{"t2:thing.added"}},
		{"ok/a neighbouring network", eventstore.Filter{InstanceID: "inst-1", EditorNetwork: netip.MustParsePrefix("198.51.101.0/24")}, nil},
		{"ok/IPv6 network from the context", eventstore.Filter{InstanceID: "inst-1", EditorNetwork: netip.MustParsePrefix("2001:db8::/32")}, []string{"g1:thing.added"}},
		{"ok/every IPv4 address", eventstore.Filter{InstanceID: "inst-1", EditorNetwork: netip.MustParsePrefix("0.0.0.0/0")}, []string{"t2:thing.added"}},
		{"ok/time range", eventstore.Filter{InstanceID: "inst-1", CreatedFrom: t0.Add(time.Hour), CreatedBefore: t0.Add(2 * time.Hour)}, []string{"t2:thing.added"}},
		{"ok/position range", eventstore.Filter{InstanceID: "inst-1", After: all[0].Position, Until: third[0].Position}, []string{"t2:thing.added", "t1:thing.renamed"}},
		{"ok/limit", eventstore.Filter{InstanceID: "inst-1", Limit: 2}, []string{"t1:thing.added", "t2:thing.added"}},
		{"ok/other instance", eventstore.Filter{InstanceID: "inst-2"}, []string{"t1:thing.added"}},
		{"ok/all instances", eventstore.Filter{AllInstances: true, AggregateIDs: []string{"t1"}, EventTypes: []string{"thing.added"}}, []string{"t1:thing.added", "t1:thing.added"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.store.Query(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tc.want) {
				t.Fatalf("got %v, want %v", names(got), tc.want)
			}
		})
	}
	if _, err := h.store.Query(ctx, eventstore.Filter{}); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("query without instance: %v", err)
	}
	p, err := eventstore.ParsePosition(all[1].Position.String())
	if err != nil || p != all[1].Position {
		t.Fatalf("position round trip: %v %v", p, err)
	}
}

// testTimeRanges writes events at times around the store's margin between
// time and commit order and checks every range, whole and paged, against
// a plain filter of all the events.
func testTimeRanges(t *testing.T, h *harness) {
	t0 := h.clock.Now()
	steps := []time.Duration{0, time.Second, 5 * time.Second, 20 * time.Second, 59 * time.Second, time.Minute, 61 * time.Second, 3 * time.Minute, time.Hour}
	at := t0
	for i := range 60 {
		at = at.Add(steps[i%len(steps)])
		h.clock.Set(at)
		if i%5 == 3 { // a server whose clock is 25 s behind the others'
			h.clock.Set(at.Add(-25 * time.Second))
		}
		appends := []eventstore.Append{{Aggregate: thing("inst-1", fmt.Sprintf("r%d", i)), Events: []eventstore.Payload{&thingAdded{Name: "x"}}}}
		if i%4 == 0 { // a transaction of several events and aggregates
			appends[0].Events = append(appends[0].Events, &thingRenamed{Name: "y"})
			appends = append(appends, eventstore.Append{Aggregate: thing("inst-1", fmt.Sprintf("s%d", i)), Events: []eventstore.Payload{&thingAdded{Name: "z"}}})
		}
		editor := alice
		if i%3 == 0 {
			editor = bob
		}
		push(t, h.store, editor, appends...)
		if i%7 == 0 {
			push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-2", fmt.Sprintf("o%d", i)), Events: []eventstore.Payload{&thingAdded{Name: "o"}}})
		}
	}
	all, err := h.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1"})
	if err != nil {
		t.Fatal(err)
	}
	// Bounds at, just around and a margin away from the events' times,
	// and a sample of the ranges between them.
	var bounds []time.Time
	for _, e := range all {
		for _, d := range []time.Duration{-61 * time.Second, -time.Minute, -59 * time.Second, -time.Microsecond, 0, time.Microsecond, 59 * time.Second, time.Minute, 61 * time.Second} {
			bounds = append(bounds, e.CreatedAt.Add(d))
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		from, before := bounds[rnd.IntN(len(bounds))], bounds[rnd.IntN(len(bounds))]
		if before.Before(from) {
			from, before = before, from
		}
		for _, f := range []eventstore.Filter{
			{InstanceID: "inst-1", CreatedFrom: from, CreatedBefore: before},
			{InstanceID: "inst-1", CreatedFrom: from},
			{InstanceID: "inst-1", CreatedBefore: before},
			// Walked along the editor's index rather than commit order.
			{InstanceID: "inst-1", CreatedFrom: from, CreatedBefore: before, EditorUserID: "bob"},
			{InstanceID: "inst-1", CreatedFrom: from, EditorUserID: "alice"},
		} {
			var want []eventstore.Position
			for _, e := range all {
				if f.EditorUserID != "" && e.Editor.UserID != f.EditorUserID {
					continue
				}
				if (f.CreatedFrom.IsZero() || !e.CreatedAt.Before(f.CreatedFrom)) && (f.CreatedBefore.IsZero() || e.CreatedAt.Before(f.CreatedBefore)) {
					want = append(want, e.Position)
				}
			}
			// Pages of 7, each after the last position of the one before.
			var got []eventstore.Position
			for page := f; ; {
				page.Limit = 7
				events, err := h.store.Query(ctx, page)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range events {
					got = append(got, e.Position)
				}
				if len(events) < page.Limit {
					break
				}
				page.After = events[len(events)-1].Position
			}
			if !slices.Equal(got, want) {
				t.Fatalf("[%s, %s): %d events, want %d", f.CreatedFrom.Sub(t0), f.CreatedBefore.Sub(t0), len(got), len(want))
			}
		}
	}
}

func insertRaw(t *testing.T, db *database.DB, eventType string, version int, payload string) {
	t.Helper()
	err := db.InTx(ctx, func(tx *database.Tx) error {
		args := []any{"inst-1", "thing", "raw-" + eventType + fmt.Sprint(version) + payload, 1, "", eventType, version, payload, "x", "", int64(0)}
		q := `INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, owner, event_type, payload_version, payload, editor_user, editor_client, created_at`
		if tx.Dialect == database.SQLite {
			q += `, tx_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 999999)`
		} else {
			q += `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testDecoding(t *testing.T, h *harness) {
	for _, tc := range []struct {
		name    string
		typ     string
		version int
		payload string
		want    error
	}{
		{"fail/unknown type", "thing.vanished", 1, `{}`, eventstore.ErrUnknownEventType},
		{"fail/version from a newer binary", "thing.added", 2, `{"name":"x"}`, eventstore.ErrUnknownVersion},
		{"fail/unknown field", "thing.added", 1, `{"name":"x","surprise":1}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := h.src
			fresh := newHarness(t, src, &thingsProjection{})
			insertRaw(t, fresh.db, tc.typ, tc.version, tc.payload)
			_, err := fresh.store.Query(ctx, eventstore.Filter{InstanceID: "inst-1", EventTypes: []string{tc.typ}})
			if err == nil {
				t.Fatal("decoding succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
		// Each case leaves its bad event behind; clear the database for the next.
		h = newHarness(t, h.src, &thingsProjection{})
		_ = h
	}
	// An upcaster upgrades old payloads on read.
	r := eventstore.NewRegistry()
	eventstore.Register[thingAdded](r, 2)
	r.RegisterUpcaster("thing.added", 1, func(old json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`{"name":"upcast"}`), nil
	})
	insertRaw(t, h.db, "thing.added", 1, `{"title":"old shape"}`)
	s, err := eventstore.New(h.db, r, nil, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, eventstore.Filter{InstanceID: "inst-1", EventTypes: []string{"thing.added"}})
	if err != nil {
		t.Fatal(err)
	}
	var upcast int
	for _, e := range got {
		if p := e.Payload.(*thingAdded); p.Name == "upcast" {
			upcast++
		}
	}
	if upcast == 0 {
		t.Fatal("version-1 payload was not upcast")
	}
}

func testRebuild(t *testing.T, h *harness) {
	for i := range 30 {
		inst := fmt.Sprintf("inst-%d", i%3)
		id := fmt.Sprintf("t%d", i%7)
		events, err := h.store.Query(ctx, eventstore.Filter{InstanceID: inst, AggregateIDs: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		var p eventstore.Payload = &thingAdded{Name: id}
		switch {
		case len(events) > 0 && i%2 == 0:
			p = &thingRenamed{Name: fmt.Sprintf("%s-v%d", id, i)}
		case len(events) > 0:
			p = &thingTicked{N: i}
		}
		push(t, h.store, alice, eventstore.Append{Aggregate: thing(inst, id), ExpectedSequence: int64(len(events)), Events: []eventstore.Payload{p}})
		// Read your writes: the row is there as soon as Push returns.
		var seq int64
		if err := h.db.Reader().QueryRow(`SELECT last_sequence FROM things WHERE instance_id = $1 AND id = $2`, inst, id).Scan(&seq); err != nil || seq != int64(len(events)+1) {
			t.Fatalf("read after write: seq=%d err=%v", seq, err)
		}
	}
	inline := dumpThings(t, h.db)
	n, err := h.store.Rebuild(ctx, "things")
	if err != nil {
		t.Fatal(err)
	}
	if n != 30 {
		t.Fatalf("rebuild applied %d events, want 30", n)
	}
	if rebuilt := dumpThings(t, h.db); !slices.Equal(inline, rebuilt) {
		t.Fatalf("rebuilt rows differ:\ninline  %v\nrebuilt %v", inline, rebuilt)
	}
	if _, err := h.store.Rebuild(ctx, "nope"); err == nil {
		t.Fatal("rebuild of an unknown projection succeeded")
	}
}

func testImmutable(t *testing.T, h *harness) {
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t1"), Events: []eventstore.Payload{&thingAdded{Name: "x"}}})
	for _, stmt := range []string{
		`UPDATE events SET payload = '{"name":"forged"}'`,
		`DELETE FROM events`,
	} {
		err := h.db.InTx(ctx, func(tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, stmt)
			return err
		})
		if err == nil {
			t.Fatalf("%s succeeded", stmt)
		}
	}
}
