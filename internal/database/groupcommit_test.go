package database_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

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
		txs := 0
		var wg sync.WaitGroup
		const n = 200
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := g.Run(ctx, db, func(ctx context.Context, tx *database.Tx) error {
					mu.Lock()
					id := txs
					mu.Unlock()
					_, err := tx.ExecContext(ctx, `INSERT INTO rows (id, tx) VALUES ($1, $2)`, fmt.Sprint(i), id)
					return err
				})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				txs++
				mu.Unlock()
			}()
		}
		wg.Wait()
		var rows, batches int
		if err := db.Reader().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT tx) FROM rows`).Scan(&rows, &batches); err != nil {
			t.Fatal(err)
		}
		if rows != n {
			t.Fatalf("%d rows of %d", rows, n)
		}
		t.Logf("%d writes in %d or fewer batches", n, batches)

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
