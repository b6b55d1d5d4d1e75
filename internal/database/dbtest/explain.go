package dbtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
)

// Explain returns the plan of query, as lines of text, as the database
// plans it on the pool written-for-one-index queries read through
// (database.DB.IndexReader): EXPLAIN QUERY PLAN on SQLite; on PostgreSQL
// EXPLAIN EXECUTE of the query prepared, which shows the generic plan
// those sessions run (plan_cache_mode), with args written as literals
// (integers as numbers, anything else as quoted text). Plan tests match
// an index's name and constraints in it.
func Explain(t testing.TB, db *database.DB, query string, args ...any) []string {
	t.Helper()
	prefix := "EXPLAIN "
	if db.Dialect == database.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	ctx := context.Background()
	conn, err := db.IndexReader().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if db.Dialect == database.Postgres {
		// The plan a kept statement runs: the generic one, as
		// IndexReader's sessions choose (plan_cache_mode). EXPLAIN with
		// parameters would plan for their values instead.
		if _, err := conn.ExecContext(ctx, "PREPARE castellan_explain AS "+query); err != nil {
			t.Fatalf("prepare %s: %v", query, err)
		}
		defer conn.ExecContext(ctx, "DEALLOCATE castellan_explain") //nolint:errcheck
		literals := make([]string, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case int, int64:
				literals[i] = fmt.Sprint(v)
			default:
				literals[i] = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
			}
		}
		query, args = "castellan_explain("+strings.Join(literals, ", ")+")", nil
		prefix = "EXPLAIN EXECUTE "
	}
	rows, err := conn.QueryContext(ctx, prefix+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	var out []string
	for _, vals := range Rows(t)(rows, nil) {
		out = append(out, fmt.Sprint(vals[len(vals)-1])) // the plan's text is the last column on both
	}
	return out
}
