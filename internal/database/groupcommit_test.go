package database_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

// TestGroupCommit: concurrent writes all land, in fewer transactions than
// writes, and a failing write fails its batch — nothing of it written —
// but not the batches after.
func TestGroupCommit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		ctx := context.Background()
		db := src.Open(t, []database.Migration{{Name: "t/0001", SQLite: `CREATE TABLE rows (id TEXT PRIMARY KEY, tx BIGINT NOT NULL)`,
			Postgres: `CREATE TABLE rows (id TEXT PRIMARY KEY, tx BIGINT NOT NULL)`}})
		var g database.GroupCommit
		var mu sync.Mutex
		txs := map[*database.Tx]bool{}
		release := make(chan struct{})
		var wg sync.WaitGroup
		const n = 200
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := g.Run(ctx, db, func(ctx context.Context, tx *database.Tx) error {
					mu.Lock()
					txs[tx] = true
					mu.Unlock()
					if i == 0 {
						<-release // the first batch holds its transaction while the others queue
					}
					_, err := tx.ExecContext(ctx, `INSERT INTO rows (id, tx) VALUES ($1, 0)`, fmt.Sprint(i))
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}()
			if i == 0 {
				for { // until the first write leads
					mu.Lock()
					started := len(txs) > 0
					mu.Unlock()
					if started {
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
		time.Sleep(100 * time.Millisecond) // the other 199 queue behind the first
		close(release)
		wg.Wait()
		var rows int
		if err := db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM rows`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != n {
			t.Fatalf("%d rows of %d", rows, n)
		}
		// The first write's transaction, then the 199 queued behind it
		// in one (at most maxGroup, 256, a transaction).
		if len(txs) != 2 {
			t.Fatalf("%d writes in %d transactions, want 2", n, len(txs))
		}

		boom := errors.New("boom")
		err := g.Run(ctx, db, func(ctx context.Context, tx *database.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO rows (id, tx) VALUES ('failed', 0)`); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("a failing write: %v", err)
		}
		var failed int
		_ = db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM rows WHERE id = 'failed'`).Scan(&failed)
		if failed != 0 {
			t.Fatal("a failed batch was written")
		}
		if err := g.Run(ctx, db, func(ctx context.Context, tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO rows (id, tx) VALUES ('after', 0)`)
			return err
		}); err != nil {
			t.Fatalf("the batch after a failure: %v", err)
		}
	})
}
