package eventstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// TestFollowGathersAStreamOfAppends: a stream of appends wakes a follower
// in rounds (at most one per roundInterval), not once per append, and an
// append to a quiet store is still delivered.
func TestFollowGathersAStreamOfAppends(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, store := writesStore(t, dbtest.Backends()[0], eventstore.Options{})
	var rounds atomic.Int64
	go store.Follow(ctx, time.Hour, func(context.Context) error {
		rounds.Add(1)
		return nil
	})
	a := eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: "i", Type: "write", ID: "w"}, Events: []eventstore.Payload{&durableWrite{N: 1}}, ExpectedSequence: eventstore.AnySequence}
	began := time.Now()
	const appends = 60
	for range appends {
		if _, err := store.Push(ctx, eventstore.SystemEditor, a); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(began)
	time.Sleep(150 * time.Millisecond) // the last round
	// One at the start, one per roundInterval of the stream, the last.
	if n, most := rounds.Load(), int64(took/eventstore.RoundInterval)+3; n > most || n < 2 {
		t.Fatalf("%d rounds for %d appends over %v, want 2 to %d", n, appends, took, most)
	}
	before := rounds.Load()
	if _, err := store.Push(ctx, eventstore.SystemEditor, a); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); rounds.Load() == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an append to a quiet store was not delivered")
		}
	}
}
