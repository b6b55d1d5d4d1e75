package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names a SQL backend.
type Dialect string

// The supported backends.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open database with separate read and write paths.
type DB struct {
	Dialect Dialect
	write   *sql.DB
	read    *sql.DB
	// indexed is read's equivalent whose planner reads through indexes
	// only (IndexReader).
	indexed *sql.DB
	scrubs  scrubber
	writes  writeFailure
	// stmts are the statements Prepared prepared, by query; readStmts
	// and indexStmts those ReadQuery and IndexQuery keep.
	stmts      sync.Map
	readStmts  keptStmts
	indexStmts keptStmts
	// txStmts are the statements transactions keep, txSeen the texts
	// run once so far (txstmt.go).
	txStmts     keptStmts
	txSeen      sync.Map
	txSeenCount atomic.Int64
}

// Tx is a write transaction. It embeds *sql.Tx; Dialect tells code that needs
// backend-specific SQL which statements to use.
type Tx struct {
	*sql.Tx
	Dialect Dialect
	// db keeps the transactions' statements (txstmt.go); seen lists the
	// ones this transaction ran unprepared, to be kept after it.
	db   *DB
	seen []string
}

// OpenSQLite opens the SQLite database file at path, creating the file
// when missing — but not its directory: a mistyped path should fail, not
// leave a new empty database somewhere.
func OpenSQLite(path string) (*DB, error) {
	if dir, err := os.Stat(filepath.Dir(path)); err != nil || !dir.IsDir() {
		return nil, fmt.Errorf("database: the directory of %s does not exist; create it, or fix the database setting", path)
	}
	// secure_delete overwrites deleted rows with zeros, so that erased
	// personal data does not linger in free space (see ScrubDeleted).
	pragmas := "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=secure_delete(ON)"
	write, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	// Reads copy pages into a cache of 8 MiB per connection (SQLite's
	// default is 2 MiB). They do not map the file (mmap_size): in WAL mode
	// a connection whose read transaction begins after another commit
	// unmaps the whole file and faults every page in again, and on a
	// server that writes all the time (sign-ins, sessions, refresh
	// grants) that cost each refresh grant a quarter more CPU than
	// reading pages with pread (docs/benchmarks.md, "Refresh grants").
	// The cache is emptied by the same commits; it serves the quiet
	// moments.
	read, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(ON)&_pragma=cache_size(-8192)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("database: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0)) // as in reloadStatistics
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	db := &DB{Dialect: SQLite, write: write, read: read, indexed: read}
	// Open lazily connects; touch the file now so a bad path fails at start.
	if err := write.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: open %s: %w", path, err)
	}
	return db, nil
}

// OpenPostgres connects to the PostgreSQL database at url.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("database: open postgres: %w", err)
	}
	pool.SetMaxOpenConns(max(8, 4*runtime.GOMAXPROCS(0)))
	pool.SetMaxIdleConns(max(8, 4*runtime.GOMAXPROCS(0)))
	pool.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: connect to postgres: %w", err)
	}
	indexed, err := openIndexedPostgres(url)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{Dialect: Postgres, write: pool, read: pool, indexed: indexed}, nil
}

// openIndexedPostgres opens the pool of IndexReader: sessions whose planner
// may not scan a table (sequential or bitmap scans), hash, merge or
// materialize rows, so that a query that an index answers is read through
// it, whatever the statistics say.
func openIndexedPostgres(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: open postgres: %w", err)
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// Without materialization, a join whose inner side is not probed by
	// the outer row's keys would be read again for every outer row, so
	// the planner probes the inner index per row instead of reading all
	// of its matches once and filtering them (as it did for a residual
	// filter of a search, depending on the visibility map's state).
	for _, p := range []string{"enable_seqscan", "enable_bitmapscan", "enable_hashjoin", "enable_mergejoin", "enable_material"} {
		cfg.RuntimeParams[p] = "off"
	}
	// The driver keeps each statement prepared; by default PostgreSQL
	// plans it again for every execution's values while their custom
	// plans look cheaper than the generic one, which for a search at a
	// million users cost a quarter of a trait search. These queries are
	// written so that one plan serves every value: the generic one
	// (checked by the plan tests, dbtest.Explain).
	cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	pool := stdlib.OpenDB(*cfg)
	n := max(4, 2*runtime.GOMAXPROCS(0))
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	return pool, nil
}

// Close closes the pools.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if db.indexed != db.read {
		err = errors.Join(err, db.indexed.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.read.PingContext(ctx)
}

// Reader is the pool for queries outside a write transaction. On SQLite its
// connections are read-only.
func (db *DB) Reader() *sql.DB { return db.read }

// IndexReader is Reader for queries written to be read through one index
// (the user directory's search): on PostgreSQL its sessions may not scan
// tables, nor hash, merge or materialize rows, so that no statistics —
// missing, stale or shaped by a small directory — choose a plan that reads
// more than the index. SQLite queries name their index themselves
// (INDEXED BY); there it is Reader.
func (db *DB) IndexReader() *sql.DB { return db.indexed }

// InTx runs fn in a write transaction and commits when fn returns nil. When
// fn fails, or the commit does, nothing fn wrote remains. A failure because
// the database is unavailable is remembered for LastWriteFailure.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	err := db.inTx(ctx, fn)
	db.writes.record(err)
	return err
}

func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("database: begin: %w", err)
	}
	tx := &Tx{Tx: sqlTx, Dialect: db.Dialect, db: db}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
		db.keepTxStmts(ctx, tx.seen)
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("database: commit: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a violated primary key or unique
// index, on either backend.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		code := sqliteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Optimize refreshes the query planner's statistics where the database does
// not do it by itself: SQLite analyzes the tables whose contents changed
// much (PRAGMA optimize); PostgreSQL's autovacuum needs no help. Without
// statistics SQLite may walk an ordered index where a selective one would
// answer at once.
func (db *DB) Optimize(ctx context.Context) error {
	if db.Dialect != SQLite {
		return nil
	}
	if _, err := db.write.ExecContext(ctx, `PRAGMA analysis_limit=`+sqliteAnalysisLimit); err != nil {
		return err
	}
	if _, err := db.write.ExecContext(ctx, `PRAGMA optimize=0x10002`); err != nil {
		return err
	}
	db.reloadStatistics()
	return nil
}

// sqliteAnalysisLimit is how many rows of each index SQLite's ANALYZE
// reads: an estimate, in milliseconds instead of a scan of the table.
const sqliteAnalysisLimit = "1000"

// AfterBulkLoad brings what the planner knows of tables up to date after a
// change too large to wait for the next refresh (a bulk import): their
// statistics, sampled (SQLite's ANALYZE reads at most sqliteAnalysisLimit
// rows per index), and on PostgreSQL their visibility map too (VACUUM), so
// that counting in an index does not visit the table's new rows one by one
// until autovacuum comes by.
func (db *DB) AfterBulkLoad(ctx context.Context, tables ...string) error {
	if db.Dialect == SQLite {
		if _, err := db.write.ExecContext(ctx, `PRAGMA analysis_limit=`+sqliteAnalysisLimit); err != nil {
			return err
		}
	}
	for _, t := range tables {
		stmt := `ANALYZE ` + t
		if db.Dialect == Postgres {
			stmt = `VACUUM (ANALYZE) ` + t
		}
		if _, err := db.write.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("database: analyze %s: %w", t, err)
		}
	}
	db.reloadStatistics()
	return nil
}

// reloadStatistics makes SQLite's read connections plan with the
// statistics just written: a connection loads them when it opens and keeps
// them, so the idle ones are closed and reopened on demand.
func (db *DB) reloadStatistics() {
	if db.Dialect != SQLite {
		return
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.read.SetMaxIdleConns(0)
	db.read.SetMaxIdleConns(n)
}

// OneRow reports whether a statement changed exactly one row: how a
// guarded update (… WHERE state = 'pending') tells that it won against a
// concurrent one. Pass it ExecContext's results as they are.
func OneRow(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
