package database

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
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

// maxKeptStatements bounds the statements ReadQuery and IndexQuery each
// keep prepared. Their texts come from a bounded set of shapes (a
// search's: one per combination of filters, order and plan; a role
// check's: one per number of projects asked about; the values being
// arguments), but a caller may choose the shape, so a server keeps the
// first ones it sees and runs any others unprepared.
const maxKeptStatements = 256

// ReadQuery runs query on Reader. On SQLite (modernc.org/sqlite, C
// translated to Go), where compiling a small query costs about as much as
// running it, through a statement prepared once and kept (database/sql
// prepares it again on each connection that has not seen it); PostgreSQL's
// driver keeps each connection's statements itself. For the reads of hot
// paths: a token's claims, its revocation, a user's standing, a search's
// schemas.
func (db *DB) ReadQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.keptQuery(ctx, db.read, &db.readStmts, query, args...)
}

// ReadQueryRow is ReadQuery for one row.
func (db *DB) ReadQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.keptQueryRow(ctx, db.read, &db.readStmts, query, args...)
}

// IndexQuery runs query on IndexReader, through a statement kept as
// ReadQuery's are (a search's statement took about a third of a small
// search to compile on SQLite).
func (db *DB) IndexQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.keptQuery(ctx, db.indexed, &db.indexStmts, query, args...)
}

// IndexQueryRow is IndexQuery for one row.
func (db *DB) IndexQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.keptQueryRow(ctx, db.indexed, &db.indexStmts, query, args...)
}

// keptStmts are the statements one read pool keeps (keptStmt), by query,
// and their count.
type keptStmts struct {
	m     sync.Map
	count atomic.Int64
}

// keptQuery runs query on pool through its kept statement, or unprepared.
func (db *DB) keptQuery(ctx context.Context, pool *sql.DB, kept *keptStmts, query string, args ...any) (*sql.Rows, error) {
	if s := db.keptStmt(ctx, pool, kept, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return pool.QueryContext(ctx, query, args...)
}

// keptQueryRow is keptQuery for one row.
func (db *DB) keptQueryRow(ctx context.Context, pool *sql.DB, kept *keptStmts, query string, args ...any) *sql.Row {
	if s := db.keptStmt(ctx, pool, kept, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return pool.QueryRowContext(ctx, query, args...)
}

// keptStmt returns query prepared on pool and kept in kept, or nil: on
// PostgreSQL, beyond maxKeptStatements of that pool, or when it does not
// prepare (the unprepared query then reports why).
func (db *DB) keptStmt(ctx context.Context, pool *sql.DB, kept *keptStmts, query string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	if s, ok := kept.m.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if kept.count.Add(1) > maxKeptStatements {
		kept.count.Add(-1)
		return nil
	}
	s, err := pool.PrepareContext(ctx, query)
	if err != nil {
		kept.count.Add(-1)
		return nil
	}
	if prev, loaded := kept.m.LoadOrStore(query, s); loaded {
		s.Close()
		kept.count.Add(-1)
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
