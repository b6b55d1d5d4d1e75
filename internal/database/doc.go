// Package database opens Castellan's SQL database — an embedded SQLite file
// (pure Go, WAL) or PostgreSQL (pgx) — and runs schema migrations.
//
// Both backends are used through database/sql with the same `$1` placeholder
// style, so most SQL is shared. What differs between them lives here and in
// the small Dialect switch of the packages that need backend-specific
// statements (the event store's transaction ids, for example).
//
// SQLite allows one writer at a time. A DB therefore keeps two pools on
// SQLite: one connection for write transactions (started with BEGIN
// IMMEDIATE, so a writer never fails half-way with SQLITE_BUSY) and a pool of
// connections for reads, which WAL lets run beside the writer. On PostgreSQL
// both are the same pool. Write transactions always go through InTx.
//
// Durability: SQLite runs with synchronous=FULL, so a transaction that InTx
// reported as committed survives the process being killed and the machine
// losing power; PostgreSQL gives the same guarantee with its default settings.
//
// Faults: IsUnavailable tells an error of the database being unreachable,
// restarting or out of disk (pgx connection errors, SQLSTATE classes 08 and
// 53, 57P01-57P03; SQLITE_FULL, SQLITE_IOERR, …) from one of the request or
// the code, so that the edge answers 503 and the caller retries. DB remembers
// whether its latest write transaction failed that way (LastWriteFailure),
// for readiness: a database that still answers reads may refuse writes.
//
// Erasure: deleted rows must not stay readable in the files. SQLite
// connections run with secure_delete (deleted rows are overwritten with
// zeros); after personal data was erased, ScrubDeleted checkpoints and
// truncates SQLite's write-ahead log, or runs VACUUM on the PostgreSQL
// tables — which frees, but does not overwrite, the dead rows (see
// docs/architecture.md, "Personal data").
//
// Statements: on SQLite (modernc.org/sqlite, C translated to Go) compiling
// a small statement costs about as much as running it, so the hot paths
// run statements compiled once and kept: Prepared (the write path's, used
// in a transaction with tx.StmtContext), ReadQuery and IndexQuery (the read
// pools'), and every data statement a transaction runs through Tx's
// ExecContext, QueryContext and QueryRowContext once two transactions ran
// its text (txstmt.go). Each is bounded (maxKeptStatements); texts beyond
// run unprepared. PostgreSQL's driver keeps each connection's statements.
//
// Migrations are plain SQL, one text per backend, owned by the package whose
// tables they create and listed in order by the binary. Applied migrations are
// recorded in schema_migrations; on PostgreSQL concurrent replicas serialize on
// an advisory lock so that exactly one applies each migration.
package database
