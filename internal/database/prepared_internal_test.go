package database

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// ReadQuery and IndexQuery each keep the statements they prepare, up to
// maxKeptStatements, run any others unprepared, report a statement that
// does not compile, and their kept statements survive a schema change and
// the reopening of the read connections.
func TestQueriesKeepBoundedStatements(t *testing.T) {
	for _, path := range []string{"read", "index"} {
		t.Run(path, func(t *testing.T) { testKeptStatements(t, path) })
	}
}

func testKeptStatements(t *testing.T, path string) {
	ctx := context.Background()
	db, err := OpenSQLite(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	query, queryRow, stmts := db.ReadQuery, db.ReadQueryRow, &db.readStmts
	if path == "index" {
		query, queryRow, stmts = db.IndexQuery, db.IndexQueryRow, &db.indexStmts
	}
	counted := &stmts.count
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		if _, err := db.write.ExecContext(ctx, `INSERT INTO t (k, v) VALUES ($1, $2)`, k, fmt.Sprint("v", k)); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() int {
		n := 0
		stmts.m.Range(func(_, _ any) bool {
			n++
			return true
		})
		return n
	}
	// Texts differ by a constant: one statement each.
	read := func(i int) {
		t.Helper()
		var v string
		if err := queryRow(ctx, fmt.Sprintf(`SELECT v FROM t WHERE k = $1 AND %d = %d`, i, i), 1).Scan(&v); err != nil || v != "v1" {
			t.Fatalf("query %d: %q, %v", i, v, err)
		}
		rows, err := query(ctx, fmt.Sprintf(`SELECT v FROM t WHERE k >= $1 AND %d = %d ORDER BY k`, i, i), 1)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Strings(rows, err)
		if err != nil || strings.Join(s, ",") != "v1,v2" {
			t.Fatalf("query %d: %v, %v", i, s, err)
		}
	}
	for i := range maxKeptStatements {
		read(i)
	}
	if n := kept(); n != maxKeptStatements {
		t.Fatalf("%d statements kept, want %d", n, maxKeptStatements)
	}
	read(0) // kept ones again
	read(maxKeptStatements)
	if n, counted := kept(), counted.Load(); n != maxKeptStatements || counted != maxKeptStatements {
		t.Fatalf("%d statements kept (%d counted), want at most %d", n, counted, maxKeptStatements)
	}
	if err := queryRow(ctx, `SELECT nothing FROM t`).Scan(new(string)); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Fatalf("a statement that does not compile: %v", err)
	}
	if _, err := db.write.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT ''; CREATE INDEX t_v ON t (v)`); err != nil {
		t.Fatal(err)
	}
	db.reloadStatistics()
	read(1)
}
