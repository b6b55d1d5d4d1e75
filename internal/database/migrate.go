package database

import (
	"context"
	"fmt"
	"time"
)

// Migration is one schema change, with its SQL for each backend. Name is
// unique and conventionally "package/NNNN_what".
type Migration struct {
	Name     string
	SQLite   string
	Postgres string
}

func (m Migration) sql(d Dialect) string {
	if d == Postgres {
		return m.Postgres
	}
	return m.SQLite
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name TEXT PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`

// migrationLockKey is the PostgreSQL advisory lock replicas serialize on.
const migrationLockKey = 0x6361737465 // "caste"

// Migrate applies, in order, every migration not yet recorded. Each runs in
// its own transaction together with its record, so a failed migration leaves
// the schema as it was before it.
func (db *DB) Migrate(ctx context.Context, migrations []Migration) error {
	if err := checkNames(migrations); err != nil {
		return err
	}
	if db.Dialect == Postgres {
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return fmt.Errorf("database: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
			return fmt.Errorf("database: migrate: take lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey) //nolint:errcheck // released with the session anyway
	}
	if _, err := db.write.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("database: migrate: %w", err)
	}
	applied, err := db.applied(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.Name] {
			continue
		}
		err := db.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql(db.Dialect)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, m.Name, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("database: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// Pending returns the names of migrations not yet applied.
func (db *DB) Pending(ctx context.Context, migrations []Migration) ([]string, error) {
	var exists int
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if db.Dialect == Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`
	}
	if err := db.read.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return nil, fmt.Errorf("database: pending migrations: %w", err)
	}
	applied := map[string]bool{}
	if exists > 0 {
		var err error
		if applied, err = db.applied(ctx); err != nil {
			return nil, err
		}
	}
	var pending []string
	for _, m := range migrations {
		if !applied[m.Name] {
			pending = append(pending, m.Name)
		}
	}
	return pending, nil
}

func (db *DB) applied(ctx context.Context) (map[string]bool, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("database: read applied migrations: %w", err)
	}
	defer rows.Close()
	applied := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		applied[name] = true
	}
	return applied, rows.Err()
}

func checkNames(migrations []Migration) error {
	seen := map[string]bool{}
	for _, m := range migrations {
		if m.Name == "" || m.SQLite == "" || m.Postgres == "" {
			return fmt.Errorf("database: migration %q needs a name and SQL for both backends", m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("database: migration %q listed twice", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}
