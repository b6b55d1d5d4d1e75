package dbtest

import (
	"database/sql"
	"testing"
)

// Rows reads every row of a query's results, whatever its columns, as the
// driver's values, and closes them; a query's error fails t. Call it with
// the query's results as they come, Rows(t)(db.QueryContext(…)).
func Rows(t testing.TB) func(rows *sql.Rows, err error) [][]any {
	return func(rows *sql.Rows, err error) [][]any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var out [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}
