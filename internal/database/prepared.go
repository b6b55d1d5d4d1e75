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

// maxIndexStatements bounds the statements IndexQuery keeps prepared.
// Their texts come from a bounded set of shapes (the search's: one per
// combination of filters, order and plan, the values being arguments),
// but a caller may choose the shape, so a server keeps the first ones it
// sees and runs any others unprepared.
const maxIndexStatements = 256

// IndexQuery runs query on IndexReader. On SQLite, where compiling a
// search's statement costs about a third of a small search, through a
// statement prepared once and kept, as PreparedRead's; PostgreSQL's driver
// keeps each connection's statements itself.
func (db *DB) IndexQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := db.indexStmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.indexed.QueryContext(ctx, query, args...)
}

// IndexQueryRow is IndexQuery for one row.
func (db *DB) IndexQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s := db.indexStmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.indexed.QueryRowContext(ctx, query, args...)
}

// indexStmt returns query prepared on IndexReader's pool, or nil: on
// PostgreSQL, beyond maxIndexStatements, or when it does not prepare (the
// unprepared query then reports why).
func (db *DB) indexStmt(ctx context.Context, query string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	key := "index\x00" + query
	if s, ok := db.stmts.Load(key); ok {
		return s.(*sql.Stmt)
	}
	if db.indexStmts.Add(1) > maxIndexStatements {
		db.indexStmts.Add(-1)
		return nil
	}
	s, err := db.indexed.PrepareContext(ctx, query)
	if err != nil {
		db.indexStmts.Add(-1)
		return nil
	}
	if prev, loaded := db.stmts.LoadOrStore(key, s); loaded {
		s.Close()
		db.indexStmts.Add(-1)
		return prev.(*sql.Stmt)
	}
	return s
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
