package dbtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
)

// Explain returns the plan of query, as lines of text, as the database
// plans it on the pool written-for-one-index queries read through
// (database.DB.IndexReader): EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
// PostgreSQL. Plan tests match an index's name and constraints in it.
func Explain(t testing.TB, db *database.DB, query string, args ...any) []string {
	t.Helper()
	prefix := "EXPLAIN "
	if db.Dialect == database.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := db.IndexReader().QueryContext(context.Background(), prefix+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	var out []string
	for _, vals := range Rows(t)(rows, nil) {
		out = append(out, fmt.Sprint(vals[len(vals)-1])) // the plan's text is the last column on both
	}
	return out
}
