package database

import (
	"context"
	"sync"
	"time"
)

// GroupCommit shares transactions among concurrent writers. With durable
// commits (SQLite synchronous=FULL, PostgreSQL fsync) a commit costs a
// flush to disk, far more than a few rows; with one writer at a time that
// flush bounds the writes per second. So concurrent small writes share a
// transaction: the first to arrive leads — it takes every write waiting
// (at most maxGroup), runs them in one transaction, commits once, and
// hands the lead to the first that arrived meanwhile. A write alone
// commits at once (no waiting for company), and each waits at most for
// the batch before its own.
//
// The writes of a batch run one after another in the transaction, in
// arrival order, so each sees the ones before it. A write that returns an
// error fails the whole batch: every caller of it gets that error, and
// nothing of the batch is written — so a write returns an error only for a
// failure of the database, and reports other outcomes through its own
// variables. A GroupCommit serves one database; its zero value is ready.
type GroupCommit struct {
	mu      sync.Mutex
	queue   []*groupWrite
	leading bool
}

// maxGroup bounds the writes of one transaction.
const maxGroup = 256

// groupTimeout bounds a batch's transaction, whoever's context it runs on.
const groupTimeout = 10 * time.Second

type groupWrite struct {
	fn  func(context.Context, *Tx) error
	err error
	// done is closed when the batch is over; lead when this write is to
	// lead the next batch.
	done, lead chan struct{}
}

// Run runs fn in a transaction shared with the writes waiting with it,
// and returns when that transaction is over: nil once it committed, or
// the error that failed it.
func (g *GroupCommit) Run(ctx context.Context, db *DB, fn func(context.Context, *Tx) error) error {
	w := &groupWrite{fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if !g.leading {
		g.leading = true
		g.mu.Unlock()
		g.flush(ctx, db)
		<-w.done
		return w.err
	}
	g.mu.Unlock()
	select {
	case <-w.done:
	case <-w.lead:
		g.flush(ctx, db)
		<-w.done
	}
	return w.err
}

// flush runs the waiting writes (the leader's among them) in one
// transaction, then passes the lead on or gives it up.
func (g *GroupCommit) flush(ctx context.Context, db *DB) {
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	err := db.InTx(ctx, func(tx *Tx) error {
		for _, w := range batch {
			if err := w.fn(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	cancel()
	for _, w := range batch {
		w.err = err
		close(w.done)
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
}
