// Package dbtest opens fresh, migrated databases for tests: a SQLite file in
// a temporary directory, and a private schema in the PostgreSQL server named
// by CASTELLAN_TEST_POSTGRES.
//
// Without CASTELLAN_TEST_POSTGRES PostgreSQL tests skip with a message; when
// CI=true they fail instead, so that CI cannot pass without PostgreSQL.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
)

// Backend is a database backend tests run against.
type Backend struct {
	Name string
	// New returns a Source of fresh, empty databases.
	New func(t testing.TB) Source
}

// Source hands out connections to one fresh database.
type Source interface {
	// Open connects (again) to the database and applies migrations.
	Open(t testing.TB, migrations []database.Migration) *database.DB
	// URL is a database setting for `castellan --database` that reaches it.
	URL() string
}

// Backends returns SQLite and PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", New: func(t testing.TB) Source { return sqliteSource{path: filepath.Join(t.TempDir(), "castellan.db")} }},
		{Name: "postgres", New: newPostgres},
	}
}

// Each runs fn once per backend as a subtest.
func Each(t *testing.T, fn func(t *testing.T, src Source)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.New(t)) })
	}
}

type sqliteSource struct{ path string }

func (s sqliteSource) URL() string { return "sqlite:" + s.path }

func (s sqliteSource) Open(t testing.TB, migrations []database.Migration) *database.DB {
	t.Helper()
	db, err := database.OpenSQLite(s.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	migrate(t, db, migrations)
	return db
}

// PostgresURL returns the server to test against, skipping (or, under CI,
// failing) the test when none is configured.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("CASTELLAN_TEST_POSTGRES")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CASTELLAN_TEST_POSTGRES is not set: CI must test against PostgreSQL (scripts/test starts it)")
		}
		t.Skip("PostgreSQL not configured: set CASTELLAN_TEST_POSTGRES (scripts/test does) to run this test")
	}
	return u
}

type postgresSource struct{ url string }

func newPostgres(t testing.TB) Source {
	t.Helper()
	base := PostgresURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return postgresSource{url: u.String()}
}

func (p postgresSource) URL() string { return p.url }

func (p postgresSource) Open(t testing.TB, migrations []database.Migration) *database.DB {
	t.Helper()
	db, err := database.OpenPostgres(context.Background(), p.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	migrate(t, db, migrations)
	return db
}

func migrate(t testing.TB, db *database.DB, migrations []database.Migration) {
	t.Helper()
	if err := db.Migrate(context.Background(), migrations); err != nil {
		t.Fatal(err)
	}
}
