package database_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

var probe = []database.Migration{{Name: "test/scrub_probe",
	SQLite:   `CREATE TABLE scrub_probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX scrub_probe_v ON scrub_probe (v)`,
	Postgres: `CREATE TABLE scrub_probe (id INTEGER PRIMARY KEY, v TEXT NOT NULL); CREATE INDEX scrub_probe_v ON scrub_probe (v)`,
}}

const canary = "canary-7f3a9c-erase-me"

func exec(t *testing.T, db *database.DB, q string, args ...any) {
	t.Helper()
	if err := db.InTx(context.Background(), func(tx *database.Tx) error {
		_, err := tx.ExecContext(context.Background(), q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// sqliteFiles returns the database file and its -wal and -shm files as
// they are on disk, joined.
func sqliteFiles(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// fill inserts rows around the canary, so that it shares its pages.
func fill(t *testing.T, db *database.DB) {
	t.Helper()
	for i := range 50 {
		exec(t, db, `INSERT INTO scrub_probe (id, v) VALUES ($1, $2)`, i, strings.Repeat("filler ", 5))
	}
	exec(t, db, `INSERT INTO scrub_probe (id, v) VALUES (1000, $1)`, canary)
}

// Every SQLite connection, the writer's and the readers', overwrites what
// it deletes.
func TestSQLiteConnectionsSecureDelete(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Backends()[0].New(t).Open(t, nil)
	var on int
	if err := db.Reader().QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&on); err != nil || on != 1 {
		t.Fatalf("secure_delete on a reader = %d, %v", on, err)
	}
	if err := db.InTx(ctx, func(tx *database.Tx) error { return tx.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&on) }); err != nil || on != 1 {
		t.Fatalf("secure_delete on the writer = %d, %v", on, err)
	}
}

func TestScrubDeletedOnSQLiteLeavesNothingInTheFiles(t *testing.T) {
	ctx := context.Background()
	src := dbtest.Backends()[0].New(t)
	path := strings.TrimPrefix(src.URL(), "sqlite:")
	db := src.Open(t, probe)
	fill(t, db)
	// The canary reaches the database file itself, so that its deletion
	// has to overwrite it there.
	if err := db.ScrubDeleted(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(canary)) {
		t.Fatal("the canary never reached the database file: the test proves nothing")
	}
	exec(t, db, `DELETE FROM scrub_probe WHERE id = 1000`)
	// Deleted, but the log still holds the page as it was before.
	exec(t, db, `INSERT INTO scrub_probe (id, v) VALUES (2000, $1)`, canary+"-again")
	exec(t, db, `DELETE FROM scrub_probe WHERE id = 2000`)
	if !bytes.Contains(sqliteFiles(t, path), []byte(canary+"-again")) {
		t.Fatal("the write-ahead log does not hold the deleted row before a scrub: the test proves nothing")
	}

	if err := db.ScrubDeleted(ctx, "scrub_probe"); err != nil {
		t.Fatal(err)
	}
	// While the server runs (a copy of the data directory, a snapshot of
	// the disk) and after it stopped (closing checkpoints by itself).
	if i := bytes.Index(sqliteFiles(t, path), []byte(canary)); i >= 0 {
		t.Fatalf("the deleted row is still readable in the files of the open database, at byte %d", i)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if i := bytes.Index(sqliteFiles(t, path), []byte(canary)); i >= 0 {
		t.Fatalf("the deleted row is still readable in the files, at byte %d", i)
	}
}

func TestScrubDeletedOnPostgresVacuums(t *testing.T) {
	ctx := context.Background()
	src := dbtest.Backends()[1].New(t)
	db := src.Open(t, probe)
	fill(t, db)
	exec(t, db, `DELETE FROM scrub_probe WHERE id = 1000`)
	vacuums := func() (n int64) {
		t.Helper()
		if err := db.Reader().QueryRowContext(ctx, `SELECT vacuum_count FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = 'scrub_probe'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := vacuums()
	if err := db.ScrubDeleted(ctx, "scrub_probe"); err != nil {
		t.Fatal(err)
	}
	if after := vacuums(); after != before+1 {
		t.Fatalf("scrub_probe was vacuumed %d times, then %d; want one VACUUM", before, after)
	}
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM scrub_probe WHERE v = $1`, canary).Scan(&n); err != nil || n != 0 {
		t.Fatalf("canary rows: %d, %v", n, err)
	}
}

func TestScrubDeletedRefusesOtherThanTableNames(t *testing.T) {
	db := dbtest.Backends()[0].New(t).Open(t, nil)
	for _, name := range []string{"", "users; DROP TABLE events", "Users", "a b", `"users"`} {
		if err := db.ScrubDeleted(context.Background(), name); err == nil {
			t.Errorf("ScrubDeleted(%q) ran", name)
		}
	}
}
