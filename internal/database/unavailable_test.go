package database_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/failure"
)

func TestIsUnavailableClassifiesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"fail/no error", nil, false},
		{"fail/any other error", errors.New("boom"), false},
		{"fail/a domain error", failure.Conflict("changed"), false},
		{"ok/broken connection, wrapped", fmt.Errorf("query: %w", driver.ErrBadConn), true},
		{"ok/connection refused", &pgconn.ConnectError{}, true},
		{"ok/connection reset during a statement", fmt.Errorf("insert: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{"ok/connection closed during a statement", fmt.Errorf("insert: %w", io.ErrUnexpectedEOF), true},
		{"ok/postgres connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"ok/postgres disk full", &pgconn.PgError{Code: "53100"}, true},
		{"ok/postgres too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"ok/postgres admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"ok/postgres crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"ok/postgres starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"ok/postgres standby refuses writes", failure.Internal(&pgconn.PgError{Code: "25006"}, "push"), true},
		{"fail/postgres unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"fail/postgres NUL in text", &pgconn.PgError{Code: "22021"}, false},
		{"fail/postgres query canceled", &pgconn.PgError{Code: "57014"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := database.IsUnavailable(tc.err); got != tc.want {
				t.Fatalf("IsUnavailable(%v) = %v", tc.err, got)
			}
		})
	}
}

// A full SQLite database (PRAGMA max_page_count, which behaves as a full
// disk does) fails writes with SQLITE_FULL, which is "unavailable", and is
// remembered until a write commits again.
func TestSQLiteFullIsUnavailableUntilAWriteCommits(t *testing.T) {
	ctx := context.Background()
	db, err := database.OpenSQLite(filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) error {
		return db.InTx(ctx, func(tx *database.Tx) error { _, err := tx.ExecContext(ctx, q); return err })
	}
	if err := exec(`CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := db.InTx(ctx, func(tx *database.Tx) error {
		return tx.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages)
	}); err != nil {
		t.Fatal(err)
	}
	if err := exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	var full error
	for range 1000 {
		if full = exec(`INSERT INTO t VALUES (printf('%.4000c', 'x'))`); full != nil {
			break
		}
	}
	if !database.IsUnavailable(full) {
		t.Fatalf("a write to a full database failed with %v, not as unavailable", full)
	}
	if _, err := db.LastWriteFailure(); err == nil {
		t.Fatal("the failed write is not remembered")
	}
	if err := exec(`INSERT INTO missing VALUES (1)`); err == nil || database.IsUnavailable(err) {
		t.Fatalf("a write to a missing table: %v", err)
	}
	if _, err := db.LastWriteFailure(); err == nil {
		t.Fatal("a failure that is not the database's cleared the remembered one")
	}
	if err := exec(`PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LastWriteFailure(); err != nil {
		t.Fatalf("a committed write did not clear the failure: %v", err)
	}
	if err := exec(`INSERT INTO t VALUES (printf('%.4000c', 'x'))`); err != nil {
		t.Fatalf("after making room: %v", err)
	}
}

// A PostgreSQL server that refuses connections (a cut proxy in front of
// it) makes reads, pings and write transactions fail as unavailable; once it
// is back the same DB works again without being reopened.
func TestPostgresOutageIsUnavailableAndRecovers(t *testing.T) {
	ctx := context.Background()
	src := dbtest.Backends()[1].New(t)
	url, proxy := dbtest.ProxyURL(t, src.URL())
	db, err := database.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func() error {
		return db.InTx(ctx, func(tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS t (v INT); INSERT INTO t VALUES (1)`)
			return err
		})
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	// A statement in flight when the connection breaks.
	time.AfterFunc(200*time.Millisecond, proxy.Cut)
	err = db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t SELECT 2 FROM pg_sleep(2)`)
		return err
	})
	if !database.IsUnavailable(err) {
		t.Errorf("statement in flight during the cut: %v", err)
	}
	if err := db.Ping(ctx); !database.IsUnavailable(err) {
		t.Errorf("ping during the outage: %v", err)
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); !database.IsUnavailable(err) {
		t.Errorf("read during the outage: %v", err)
	}
	if err := write(); !database.IsUnavailable(err) {
		t.Errorf("write during the outage: %v", err)
	}
	if _, err := db.LastWriteFailure(); err == nil {
		t.Error("the failed write is not remembered")
	}
	proxy.Restore()
	if err := write(); err != nil {
		t.Fatalf("write after the outage: %v", err)
	}
	if _, err := db.LastWriteFailure(); err != nil {
		t.Errorf("a committed write did not clear the failure: %v", err)
	}
}

func TestOpenSQLiteRefusesAMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nonexistent")
	_, err := database.OpenSQLite(filepath.Join(dir, "x.db"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("OpenSQLite in a missing directory: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the directory was created: %v", err)
	}
}
