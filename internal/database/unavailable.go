package database

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUnavailable reports whether err means that the database cannot serve
// the request right now — it refuses connections, is restarting, is out of
// disk, memory or connections, or the connection broke — rather than that
// the request or the code is wrong. The same request may succeed once the
// database is back, so the edge answers such errors "unavailable" (HTTP 503)
// instead of "internal".
//
//   - PostgreSQL: a failed connection attempt (pgconn.ConnectError), a
//     connection lost before or during a statement (driver.ErrBadConn, a
//     *net.OpError, io.ErrUnexpectedEOF), and the SQLSTATEs of
//     class 08 (connection exception), class 53 (insufficient resources:
//     disk full, out of memory, too many connections), 57P01-57P03 (the
//     server is shutting down or starting up) and 25006 (a read-only
//     transaction: the server is a standby, as during a fail-over).
//   - SQLite: SQLITE_FULL (the disk or max_page_count is full), SQLITE_IOERR
//     (the file cannot be read or written), SQLITE_CANTOPEN, SQLITE_NOMEM
//     and SQLITE_BUSY (another process held the database longer than the
//     busy timeout).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return postgresUnavailable(pgErr.Code)
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_BUSY:
			return true
		}
		return false
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     *net.OpError
	)
	return errors.As(err, &connectErr) ||
		// database/sql and pgx report a connection that broke while in use.
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		// pgx marks errors that happened before a statement was sent.
		pgconn.SafeToRetry(err) ||
		// A connection that broke during a statement: pgx returns the
		// network error itself. In a request's error chain it can only be
		// the database's: the domain turns errors of its other peers (mail,
		// SMS, domain verification) into failures of their own kinds.
		errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF)
}

func postgresUnavailable(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "25006":
		return true
	}
	return false
}

// writeFailure remembers whether the latest write transaction failed because
// the database was unavailable, for readiness checks: a database that
// answers queries may still refuse writes (a full disk).
type writeFailure struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

// record notes the outcome of a finished write transaction. Failures that
// are not IsUnavailable (a conflict, a bad request) say nothing about the
// database and leave the state as it was.
func (w *writeFailure) record(err error) {
	switch {
	case err == nil:
		w.mu.Lock()
		w.err = nil
		w.mu.Unlock()
	case IsUnavailable(err):
		w.mu.Lock()
		w.err, w.at = err, time.Now()
		w.mu.Unlock()
	}
}

// LastWriteFailure returns when the latest write transaction failed and why,
// if it failed because the database was unavailable (IsUnavailable); once a
// write transaction commits, err is nil again.
func (db *DB) LastWriteFailure() (at time.Time, err error) {
	db.writes.mu.Lock()
	defer db.writes.mu.Unlock()
	return db.writes.at, db.writes.err
}
