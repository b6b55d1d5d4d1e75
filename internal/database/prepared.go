package database

import (
	"context"
	"database/sql"
)

// Prepared returns query as a statement of the write path, prepared once
// per database and kept; a transaction uses it with tx.StmtContext. Call
// it outside a transaction (on SQLite the transaction holds the one write
// connection). On SQLite (modernc.org/sqlite, C translated to Go)
// compiling a statement costs more than running a small one, and the hot
// writes of the provider (refresh rotations) run a few statements each;
// database/sql prepares it again on a connection that has not seen it.
// For the few statements of hot paths only: each stays prepared for the
// life of the database.
func (db *DB) Prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.write.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// PreparedRead is Prepared for the read path: a statement of the reader
// pool, prepared once per database (and again by database/sql on each
// connection that has not seen it), used directly — no transaction.
func (db *DB) PreparedRead(ctx context.Context, query string) (*sql.Stmt, error) {
	key := "read\x00" + query
	if s, ok := db.stmts.Load(key); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(key, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// Strings reads a query's one text column, whole, and closes the rows:
// the ids and keys listings read. Call it with the query's results as they
// come, Strings(q.QueryContext(…)).
func Strings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
