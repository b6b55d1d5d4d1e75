package database

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// A transaction's data statements are kept after a second transaction ran
// them and then run through the kept statement — with the right rows,
// across a schema change and a rolled back transaction; one-off texts,
// other statements and texts beyond maxKeptStatements are not kept.
func TestTransactionsKeepTheirStatements(t *testing.T) {
	ctx := context.Background()
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kept := func(q string) bool {
		_, ok := db.txStmts.m.Load(q)
		return ok
	}
	const create = `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`
	const insert = `INSERT INTO t (k, v) VALUES ($1, $2)`
	const update = `UPDATE t SET v = v || $1 WHERE k = $2`
	const sel = `SELECT v FROM t WHERE k = $1`
	if err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, create)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	write := func(k int) string {
		t.Helper()
		var v string
		if err := db.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, insert, k, "a"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, update, "b", k); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, sel, k)
			if err != nil {
				return err
			}
			for rows.Next() {
				if err := rows.Scan(&v); err != nil {
					return err
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			var again string
			if err := tx.QueryRowContext(ctx, sel, k).Scan(&again); err != nil || again != v {
				return fmt.Errorf("row %q, rows %q: %v", again, v, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := write(1); v != "ab" || kept(insert) || kept(create) {
		t.Fatalf("after one transaction: %q, insert kept %t, create kept %t", v, kept(insert), kept(create))
	}
	if v := write(2); v != "ab" || !kept(insert) || !kept(update) || !kept(sel) || kept(create) {
		t.Fatalf("after two: %q, kept insert %t update %t select %t create %t", v, kept(insert), kept(update), kept(sel), kept(create))
	}
	if v := write(3); v != "ab" {
		t.Fatalf("through kept statements: %q", v)
	}
	if err := db.InTx(ctx, func(tx *Tx) error {
		if tx.kept(insert) == nil || tx.kept(create) != nil || len(tx.seen) != 0 {
			t.Errorf("in a later transaction: insert kept %t, create kept %t, %d texts to keep", tx.kept(insert) != nil, tx.kept(create) != nil, len(tx.seen))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A failing transaction rolls back what its kept statements wrote.
	if err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, insert, 4, "x"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insert, 4, "x")
		return err
	}); !IsUniqueViolation(err) {
		t.Fatalf("duplicate key: %v", err)
	}
	// A schema change: kept statements follow it.
	if err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT 'w'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if v := write(5); v != "ab" {
		t.Fatalf("after a schema change: %q", v)
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d rows (%v), want 4", n, err)
	}
	// At most maxKeptStatements.
	for i := range maxKeptStatements + 10 {
		q := fmt.Sprintf(`SELECT v FROM t WHERE k = $1 AND %d = %d`, i, i)
		for range 2 {
			if err := db.InTx(ctx, func(tx *Tx) error {
				var v string
				return tx.QueryRowContext(ctx, q, 1).Scan(&v)
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c := db.txStmts.count.Load(); c != maxKeptStatements {
		t.Fatalf("%d kept, want %d", c, maxKeptStatements)
	}
	if v := write(6); v != "ab" {
		t.Fatalf("beyond the bound: %q", v)
	}
}

func TestKeepable(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": true, "  insert into t VALUES (1)": true, "UPDATE t SET v = 1": true, "DELETE FROM t": true,
		"WITH x AS (SELECT 1) SELECT * FROM x": true, "SELECT 1;": true, "SELECT\n\tv FROM t": true,
		"CREATE TABLE t (k INTEGER)": false, "PRAGMA optimize": false, "SELECT 1; SELECT 2": false, "": false,
	} {
		if got := keepable(q); got != want {
			t.Errorf("keepable(%q) = %t", q, got)
		}
	}
}
