package user_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// churn brings the directory to the state of a server that has run for a
// while: with CASTELLAN_BENCH_CHURN=N, N users (an even sample: the first
// N by id) have been updated through Commands.Update, one at a time — a
// new family name each, and every fifth a new login name and back — so that the
// rows and index entries of users and user_traits have been rewritten
// (dead tuples and autovacuum on PostgreSQL, reused pages on SQLite), and
// the planner's statistics are those the server keeps by itself. The
// count applied is recorded in bench_churn, and later runs of a kept
// directory only add what is missing.
func churn(b *testing.B, d *dataset, key string) {
	spec := os.Getenv("CASTELLAN_BENCH_CHURN")
	if spec == "" {
		return
	}
	want, err := strconv.Atoi(spec)
	if err != nil || want < 0 || want > d.size {
		b.Fatalf("CASTELLAN_BENCH_CHURN=%q: a number of users up to the directory's %d", spec, d.size)
	}
	ctx := context.Background()
	if err := d.db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_churn (n INTEGER NOT NULL)`)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	var done int
	if err := d.db.Reader().QueryRowContext(ctx, `SELECT coalesce(max(n), 0) FROM bench_churn`).Scan(&done); err != nil {
		b.Fatal(err)
	}
	if done >= want {
		fmt.Fprintf(os.Stderr, "dataset %s: %d users updated before\n", key, done)
		return
	}
	type row struct{ id, login, traits string }
	rows, err := d.db.Reader().QueryContext(ctx, `SELECT id, login_name, traits FROM users WHERE instance_id = $1 AND login_name_lower NOT LIKE 'bench-admin%'
ORDER BY id LIMIT $2 OFFSET $3`, benchInstance, want-done, done)
	if err != nil {
		b.Fatal(err)
	}
	var todo []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.login, &r.traits); err != nil {
			b.Fatal(err)
		}
		todo = append(todo, r)
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	record := func(n int) {
		if err := d.db.InTx(ctx, func(tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO bench_churn (n) VALUES ($1)`, n)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	for i, r := range todo {
		var t map[string]map[string]string
		if err := json.Unmarshal([]byte(r.traits), &t); err != nil {
			b.Fatal(err)
		}
		t["profile"]["family_name"] = familyNames[mix(done+i+104729)%len(familyNames)]
		traits, _ := json.Marshal(t)
		patches := []user.Patch{{Traits: traits}}
		if (done+i)%5 == 0 {
			// A new login name and back: the searches look users up by
			// the names they were generated with.
			moved, back := r.login+".m", r.login
			patches = append(patches, user.Patch{LoginName: &moved}, user.Patch{LoginName: &back})
		}
		for _, p := range patches {
			if err := d.users.Update(ctx, benchEditor, benchInstance, r.id, userschema.Admin, p); err != nil {
				b.Fatalf("updating %s: %v", r.id, err)
			}
		}
		if n := done + i + 1; n%10_000 == 0 {
			record(n)
			fmt.Fprintf(os.Stderr, "dataset %s: %d/%d users updated, %.0f/s\n", key, n, want, float64(i+1)/time.Since(start).Seconds())
		}
	}
	record(want)
	fmt.Fprintf(os.Stderr, "dataset %s: %d users updated in %s\n", key, want, time.Since(start).Round(time.Second))
}
