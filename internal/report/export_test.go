package report

import (
	"context"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Replay deletes the rows and derives them again, in one transaction,
// from every event up to the subscription's checkpoint: the rows a
// rebuild from position 0 makes.
func (r *Report) Replay(ctx context.Context) (int, error) {
	until, err := r.store.Checkpoint(ctx, SubscriptionName)
	if err != nil || until.IsZero() {
		return 0, err
	}
	n := 0
	err = r.store.DB().InTx(ctx, func(tx *database.Tx) error {
		if err := reset(ctx, tx); err != nil {
			return err
		}
		after := eventstore.Position{}
		for {
			events, err := r.store.QueryTx(ctx, tx, eventstore.Filter{AllInstances: true, EventTypes: eventTypes, After: after, Until: until, Limit: 500})
			if err != nil || len(events) == 0 {
				return err
			}
			if err := r.handle(ctx, tx, events); err != nil {
				return err
			}
			n += len(events)
			after = events[len(events)-1].Position
		}
	})
	return n, err
}

// SubscriptionNamed is the report's subscription under another
// checkpoint name, for benchmarks that read the log again and again.
func (r *Report) SubscriptionNamed(name string) eventstore.Subscription {
	s := r.Subscription()
	s.Name = name
	return s
}

// Reset deletes the rows.
func (r *Report) Reset(ctx context.Context) error {
	return r.store.DB().InTx(ctx, func(tx *database.Tx) error { return reset(ctx, tx) })
}
