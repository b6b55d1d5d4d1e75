package grants

import (
	"context"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// Group commit of refresh token rotations. With durable commits (SQLite
// synchronous=FULL, PostgreSQL fsync) a commit costs a flush to disk, far
// more than a rotation's few rows; one writer at a time makes that flush
// the bound on refreshes per second. So concurrent rotations share a
// transaction: the first to arrive leads — it takes every rotation
// waiting (at most maxBatch), runs them in one transaction, commits once,
// and hands the lead to the first that arrived meanwhile. A rotation
// alone commits at once (no waiting for company), and each waits at most
// for the batch before its own.
//
// The rotations of a batch run one after another in the transaction, so
// two refreshes of one token in one batch behave as they would in turn:
// the second finds the token used, a reuse. A failure of the database
// fails the whole batch (each caller gets it), and nothing of it is
// written.

// maxBatch bounds the rotations of one transaction.
const maxBatch = 256

// batchTimeout bounds a batch's transaction, whoever's context it runs on.
const batchTimeout = 10 * time.Second

// rotation is one refresh waiting for its transaction.
type rotation struct {
	instanceID, clientID, tokenHash, nextHash string
	idle                                      time.Duration
	now                                       time.Time
	// Set by the batch.
	gr     Grant
	outErr error
	err    error
	// done is closed when the outcome is set; lead when this rotation is
	// to lead the next batch.
	done, lead chan struct{}
}

// rotations is the queue of rotations waiting for a transaction.
type rotations struct {
	mu      sync.Mutex
	queue   []*rotation
	leading bool
}

// rotate runs r in a batch and returns when its outcome is set.
func (q *rotations) rotate(ctx context.Context, db *database.DB, r *rotation) {
	q.mu.Lock()
	q.queue = append(q.queue, r)
	if !q.leading {
		q.leading = true
		q.mu.Unlock()
		q.flush(ctx, db)
		<-r.done
		return
	}
	q.mu.Unlock()
	select {
	case <-r.done:
	case <-r.lead:
		q.flush(ctx, db)
		<-r.done
	}
}

// flush runs the waiting rotations (the leader's among them) in one
// transaction, then passes the lead on or gives it up.
func (q *rotations) flush(ctx context.Context, db *database.DB) {
	q.mu.Lock()
	n := min(len(q.queue), maxBatch)
	batch := q.queue[:n:n]
	q.queue = q.queue[n:]
	q.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	st, err := prepareRotation(ctx, db)
	if err == nil {
		err = db.InTx(ctx, func(tx *database.Tx) error {
			for _, r := range batch {
				if err := r.apply(ctx, tx, st); err != nil {
					return err
				}
			}
			return nil
		})
	}
	cancel()
	for _, r := range batch {
		if err != nil {
			r.err, r.outErr = err, nil
		}
		close(r.done)
	}

	q.mu.Lock()
	if len(q.queue) > 0 {
		close(q.queue[0].lead)
	} else {
		q.leading = false
	}
	q.mu.Unlock()
}
