package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// The subscription tests: checkpoints, late commits, concurrent writers.

type recorder struct {
	mu   sync.Mutex
	seen map[eventstore.Position]int
	log  []eventstore.Event
}

func newRecorder() *recorder { return &recorder{seen: map[eventstore.Position]int{}} }

func (r *recorder) subscription(name string) eventstore.Subscription {
	return eventstore.Subscription{Name: name, BatchSize: 50, Handle: func(_ context.Context, _ *database.Tx, events []eventstore.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range events {
			r.seen[e.Position]++
			r.log = append(r.log, e)
		}
		return nil
	}}
}

// catchUp delivers until want events arrived. On PostgreSQL an event is
// delivered once every transaction older than it has ended, and other
// tests of the run (other packages, other databases of the cluster) may
// hold one open for a moment; so this waits, bounded, instead of expecting
// a single CatchUp to see everything.
func catchUp(t *testing.T, s *eventstore.Store, sub eventstore.Subscription, want int) int {
	t.Helper()
	total := 0
	for deadline := time.Now().Add(15 * time.Second); total < want && time.Now().Before(deadline); {
		n, err := s.CatchUp(ctx, sub)
		if err != nil {
			t.Fatalf("catch-up: %v", err)
		}
		total += n
		if n == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return total
}

func testCheckpoint(t *testing.T, h *harness) {
	for i := range 7 {
		push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", fmt.Sprint(i)), Events: []eventstore.Payload{&thingAdded{Name: "x"}}})
	}
	rec := newRecorder()
	if n := catchUp(t, h.store, rec.subscription("audit"), 7); n != 7 {
		t.Fatalf("first catch-up: n=%d, want 7", n)
	}
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-2", "x"), Events: []eventstore.Payload{&thingAdded{Name: "x"}, &thingTicked{}}})
	// A new process resumes after the stored checkpoint.
	other := h.another(t, &thingsProjection{})
	rec2 := newRecorder()
	if n := catchUp(t, other.store, rec2.subscription("audit"), 2); n != 2 {
		t.Fatalf("resumed catch-up: n=%d, want the 2 new events", n)
	}
	cp, err := other.store.Checkpoint(ctx, "audit")
	if err != nil || cp != rec2.log[1].Position {
		t.Fatalf("checkpoint %v (%v), want %v", cp, err, rec2.log[1].Position)
	}
	// A failing handler does not advance the checkpoint.
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-3", "x"), Events: []eventstore.Payload{&thingAdded{Name: "x"}}})
	failing := eventstore.Subscription{Name: "audit", Handle: func(context.Context, *database.Tx, []eventstore.Event) error { return errors.New("down") }}
	failed := false
	for deadline := time.Now().Add(15 * time.Second); !failed && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, err := h.store.CatchUp(ctx, failing) // nil until the event is settled and handed over
		failed = err != nil
	}
	if !failed {
		t.Fatal("failing handler reported success")
	}
	if n := catchUp(t, h.store, rec2.subscription("audit"), 1); n != 1 {
		t.Fatalf("after failure: n=%d, want 1", n)
	}
}

func testLateCommit(t *testing.T, h *harness) {
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "before"), Events: []eventstore.Payload{&thingAdded{Name: "before"}}})
	gated := &thingsProjection{reached: make(chan struct{}), gate: make(chan struct{})}
	slowProc := h.another(t, gated)
	release := sync.OnceFunc(func() { close(gated.gate) })
	t.Cleanup(release) // runs before the databases close, even when the test fails
	slowDone := make(chan error, 1)
	go func() {
		_, err := slowProc.store.Push(ctx, alice, eventstore.Append{Aggregate: thing("inst-1", "slow"), Events: []eventstore.Payload{&thingAdded{Name: "slow"}}})
		slowDone <- err
	}()
	<-gated.reached // the slow append holds its transaction open, event inserted
	rec := newRecorder()
	sub := rec.subscription("late")
	if h.db.Dialect == database.Postgres {
		// A fast append commits while the slow one is still open.
		push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "fast"), Events: []eventstore.Payload{&thingAdded{Name: "fast"}}})
		if _, err := h.store.CatchUp(ctx, sub); err != nil {
			t.Fatal(err)
		}
		for _, e := range rec.log {
			if e.Aggregate.ID == "fast" {
				t.Fatal("subscription delivered an event while an earlier transaction was still in flight")
			}
		}
		release()
	} else {
		// SQLite serializes writers: the fast append waits for the slow one.
		fastDone := make(chan error, 1)
		go func() {
			_, err := h.store.Push(ctx, alice, eventstore.Append{Aggregate: thing("inst-1", "fast"), Events: []eventstore.Payload{&thingAdded{Name: "fast"}}})
			fastDone <- err
		}()
		release()
		if err := <-fastDone; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	catchUp(t, h.store, sub, 3-len(rec.log))
	var ids []string
	for _, e := range rec.log {
		ids = append(ids, e.Aggregate.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"before", "fast", "slow"}) {
		t.Fatalf("delivered %v, want before, fast and slow exactly once", ids)
	}
	for _, n := range rec.seen {
		if n != 1 {
			t.Fatalf("an event was delivered %d times", n)
		}
	}
}

func testConcurrentSubscriber(t *testing.T, h *harness) {
	const writers, perWriter = 8, 60
	rec := newRecorder()
	sub := rec.subscription("everything")
	runCtx, stop := context.WithCancel(ctx)
	var subDone sync.WaitGroup
	// Two subscriber processes compete for the same checkpoint.
	for _, s := range []*eventstore.Store{h.store, h.another(t, &thingsProjection{}).store} {
		subDone.Go(func() { s.Run(runCtx, sub, 5*time.Millisecond, nil) })
	}
	stores := []*eventstore.Store{h.store, h.another(t, &thingsProjection{}).store}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			s := stores[w%len(stores)]
			a := thing(fmt.Sprintf("inst-%d", w%2), fmt.Sprintf("w%d", w))
			for i := range perWriter {
				var p eventstore.Payload = &thingTicked{N: i}
				if i == 0 {
					p = &thingAdded{Name: a.ID}
				}
				if _, err := s.Push(ctx, alice, eventstore.Append{Aggregate: a, ExpectedSequence: int64(i), Events: []eventstore.Payload{p}}); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Drain what is left, then stop the runners.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.log)
		rec.mu.Unlock()
		if n >= writers*perWriter || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	subDone.Wait()
	if len(rec.log) != writers*perWriter {
		t.Fatalf("subscriber saw %d events, want %d", len(rec.log), writers*perWriter)
	}
	last := map[string]int64{}
	for i, e := range rec.log {
		if rec.seen[e.Position] != 1 {
			t.Fatalf("event %v delivered %d times", e.Position, rec.seen[e.Position])
		}
		if i > 0 && !rec.log[i-1].Position.Less(e.Position) {
			t.Fatalf("delivery out of commit order at %d: %v then %v", i, rec.log[i-1].Position, e.Position)
		}
		key := e.Aggregate.InstanceID + "/" + e.Aggregate.ID
		if e.Sequence != last[key]+1 {
			t.Fatalf("%s: sequence %d delivered after %d", key, e.Sequence, last[key])
		}
		last[key] = e.Sequence
	}
}
