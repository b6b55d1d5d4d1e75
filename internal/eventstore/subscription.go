package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// Subscription is an asynchronous consumer of the event log, for work that
// may lag behind the write (webhooks, notifications, analytics).
//
// Its checkpoint is stored in the database, so it resumes where it stopped.
// Each batch is handed to Handle inside a transaction that also advances the
// checkpoint: what Handle writes through tx happens exactly once per event.
// Effects outside the database (an HTTP call) happen at least once.
//
// Events are delivered in commit order and none is skipped: on PostgreSQL a
// batch only holds events of transactions older than every transaction still
// running, so an append that commits late with a smaller position is waited
// for, not passed over. Of several replicas running the same subscription,
// one at a time holds the checkpoint; the others skip the round.
type Subscription struct {
	Name string
	// EventTypes restricts delivery; empty means every event.
	EventTypes []string
	// BatchSize is the most events per Handle call; 500 by default.
	BatchSize int
	Handle    func(ctx context.Context, tx *database.Tx, events []Event) error
}

// errCheckpointBusy means another process is advancing the subscription.
var errCheckpointBusy = errors.New("checkpoint held by another process")

// CatchUp delivers every settled event after the subscription's checkpoint
// and returns how many it delivered.
func (s *Store) CatchUp(ctx context.Context, sub Subscription) (int, error) {
	total := 0
	for {
		n, err := s.deliverBatch(ctx, sub)
		total += n
		if errors.Is(err, errCheckpointBusy) {
			return total, nil
		}
		if err != nil || n < batchSize(sub) {
			return total, err
		}
	}
}

// Run delivers events until ctx is done, waking on every local append and
// at least every poll interval (for appends made by other replicas).
func (s *Store) Run(ctx context.Context, sub Subscription, poll time.Duration, log *slog.Logger) {
	s.Follow(ctx, poll, func(ctx context.Context) error {
		_, err := s.CatchUp(ctx, sub)
		if err != nil && ctx.Err() == nil {
			logOrDefault(log).Error("subscription failed; retrying", "subscription", sub.Name, "err", err)
		}
		return err
	})
}

// Follow calls catchUp until ctx is done: at once, then after every local
// append and at least every poll interval, but at most once per
// roundInterval: an append to a quiet store is delivered at once, a
// stream of appends in rounds of what roundInterval gathers. Run follows
// with a Subscription's CatchUp; a consumer with its own (one that acts
// after the subscription's transaction) follows with that.
func (s *Store) Follow(ctx context.Context, poll time.Duration, catchUp func(context.Context) error) {
	for {
		changed := s.Changed()
		began := time.Now()
		_ = catchUp(ctx) // catchUp reports its own failures; the next round retries
		timer := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changed:
			timer.Stop()
			if wait := roundInterval - time.Since(began); wait > 0 {
				pause := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					pause.Stop()
					return
				case <-pause.C:
				}
			}
		case <-timer.C:
		}
	}
}

// roundInterval is the least time between two rounds of a subscription
// woken by appends. Each round is a transaction (the checkpoint, the
// handler's writes) with its own commit; woken by every append, the
// subscriptions of a password sign-in (the new-device watch, the reports,
// the audit chain) ran three commits per sign-in, a third of the server's
// own work on it. Subscriptions are for work that may lag behind the
// write; a quarter of a second of it batches a busy server's appends
// (at 35 sign-ins a second, 250 ms instead of 100 took another 0.3–0.45
// ms off each sign-in's 4 ms of the server's own CPU, docs/benchmarks.md).
// A quiet server's first append is still handled at once.
const roundInterval = 250 * time.Millisecond

func logOrDefault(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}

// Checkpoint returns the position the subscription has delivered up to.
func (s *Store) Checkpoint(ctx context.Context, name string) (Position, error) {
	var p Position
	err := s.db.Reader().QueryRowContext(ctx, `SELECT tx_id, position FROM subscription_checkpoints WHERE name = $1`, name).
		Scan(&p.TxID, &p.Global)
	if errors.Is(err, sql.ErrNoRows) {
		return Position{}, nil
	}
	return p, err
}

func batchSize(sub Subscription) int {
	if sub.BatchSize > 0 {
		return sub.BatchSize
	}
	return 500
}

func (s *Store) deliverBatch(ctx context.Context, sub Subscription) (int, error) {
	if sub.Name == "" || sub.Handle == nil {
		return 0, fmt.Errorf("eventstore: a subscription needs a name and a handler")
	}
	n := 0
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		n = 0
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscription_checkpoints (name, tx_id, position, updated_at)
VALUES ($1, 0, 0, $2) ON CONFLICT (name) DO NOTHING`, sub.Name, s.now().Unix()); err != nil {
			return fmt.Errorf("eventstore: create checkpoint %s: %w", sub.Name, err)
		}
		var from Position
		err := tx.QueryRowContext(ctx, lockCheckpointSQL(tx.Dialect), sub.Name).Scan(&from.TxID, &from.Global)
		if errors.Is(err, sql.ErrNoRows) {
			return errCheckpointBusy
		}
		if err != nil {
			return fmt.Errorf("eventstore: read checkpoint %s: %w", sub.Name, err)
		}
		events, err := s.QueryTx(ctx, tx, Filter{AllInstances: true, EventTypes: sub.EventTypes, After: from, Limit: batchSize(sub), Settled: true})
		if err != nil || len(events) == 0 {
			return err
		}
		if err := sub.Handle(ctx, tx, events); err != nil {
			return fmt.Errorf("eventstore: subscription %s: %w", sub.Name, err)
		}
		to := events[len(events)-1].Position
		if _, err := tx.ExecContext(ctx, `UPDATE subscription_checkpoints SET tx_id = $1, position = $2, updated_at = $3 WHERE name = $4`,
			to.TxID, to.Global, s.now().Unix(), sub.Name); err != nil {
			return fmt.Errorf("eventstore: advance checkpoint %s: %w", sub.Name, err)
		}
		n = len(events)
		return nil
	})
	return n, err
}
