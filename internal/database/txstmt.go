package database

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"unicode"
)

// A transaction's statements stay prepared. On SQLite (modernc.org/sqlite,
// C translated to Go) compiling a small statement costs about as much as
// running it, and a write runs many: the event store's append (kept by
// Prepared), then every inline projection's inserts and updates and the
// subscriptions' checkpoints, the same texts write after write. Tx's
// ExecContext, QueryContext and QueryRowContext therefore run a statement
// the write path keeps, when it keeps one for that text; a text it does
// not keep yet runs unprepared and is prepared after the transaction,
// outside it (the transaction holds SQLite's one write connection), once
// a second transaction ran it, so that the next transactions find it.
// Only data statements are kept (SELECT, INSERT, UPDATE, DELETE, WITH), at
// most maxKeptStatements, as ReadQuery's (keptStmt); the others always
// run unprepared. PostgreSQL's driver keeps each connection's statements
// itself.

// ExecContext runs query in the transaction, through its kept statement
// when there is one.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := tx.kept(query); s != nil {
		return tx.Tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext is ExecContext for rows.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := tx.kept(query); s != nil {
		return tx.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext is ExecContext for one row.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := tx.kept(query); s != nil {
		return tx.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// maxTxSeen bounds the texts one transaction remembers to keep after it;
// maxTxSeenTexts the texts remembered as run once, across transactions.
const (
	maxTxSeen      = 64
	maxTxSeenTexts = 4096
)

// kept returns the statement kept for query, or nil, remembering a data
// statement's text to be kept after the transaction.
func (tx *Tx) kept(query string) *sql.Stmt {
	if tx.db == nil || tx.Dialect != SQLite {
		return nil
	}
	if s, ok := tx.db.txStmts.m.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if len(tx.seen) < maxTxSeen && tx.db.txStmts.count.Load() < maxKeptStatements && keepable(query) && !slices.Contains(tx.seen, query) {
		tx.seen = append(tx.seen, query)
	}
	return nil
}

// keepable reports whether query is one data statement.
func keepable(query string) bool {
	q := strings.TrimSpace(query)
	if i := strings.IndexByte(q, ';'); i >= 0 && strings.TrimSpace(q[i+1:]) != "" {
		return false
	}
	verb := q
	if i := strings.IndexFunc(q, unicode.IsSpace); i >= 0 {
		verb = q[:i]
	}
	switch strings.ToUpper(verb) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH":
		return true
	}
	return false
}

// keepTxStmts prepares on the write path the statements a transaction
// ran unprepared, once it is over — those a transaction before it ran
// too: a migration's or an import's one-off texts would otherwise take
// the places of the statements every write runs.
func (db *DB) keepTxStmts(ctx context.Context, queries []string) {
	for _, q := range queries {
		if _, ok := db.txStmts.m.Load(q); ok {
			continue
		}
		if _, again := db.txSeen.LoadOrStore(q, struct{}{}); !again {
			if db.txSeenCount.Add(1) > maxTxSeenTexts {
				db.txSeen.Clear()
				db.txSeenCount.Store(0)
			}
			continue
		}
		// It ran in the transaction; it may still not compile alone (a
		// schema the transaction changed and rolled back): then it is
		// not kept.
		db.keptStmt(context.WithoutCancel(ctx), db.write, &db.txStmts, q)
	}
}
