package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// An append that takes longer than the store allows between its time stamp
// and its last write is refused whole: committed, its events could sort
// before events stamped a margin earlier, and a time range (bounded by
// positions) would miss them.
func TestStalledAppendIsRefused(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := context.Background()
			var stall time.Duration
			_, store := writesStore(t, backend, eventstore.Options{Now: func() time.Time {
				time.Sleep(stall)
				return time.Now()
			}})
			eventstore.SetMaxStampAge(store, 50*time.Millisecond)
			a := eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: "i", Type: "write", ID: "w"}, Events: []eventstore.Payload{&durableWrite{N: 1}}, ExpectedSequence: eventstore.AnySequence}
			if _, err := store.Push(ctx, eventstore.SystemEditor, a); err != nil {
				t.Fatalf("a prompt append: %v", err)
			}
			stall = 100 * time.Millisecond
			if _, err := store.Push(ctx, eventstore.SystemEditor, a); !failure.Is(err, failure.KindUnavailable) {
				t.Fatalf("a stalled append: %v, want unavailable", err)
			}
			events, err := store.Query(ctx, eventstore.Filter{InstanceID: "i"})
			if err != nil || len(events) != 1 {
				t.Fatalf("%d events after the refused append (%v), want 1", len(events), err)
			}
		})
	}
}
