package trustset

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Migrations create the trust_sets read model.
var Migrations = []database.Migration{{
	Name: "trustset/0001_trust_sets",
	SQLite: `CREATE TABLE trust_sets (instance_id TEXT NOT NULL, set_id TEXT NOT NULL, name TEXT NOT NULL, certificates TEXT NOT NULL,
	crls TEXT NOT NULL, is_default BOOLEAN NOT NULL, sequence INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, set_id));`,
	Postgres: `CREATE TABLE trust_sets (instance_id TEXT NOT NULL, set_id TEXT NOT NULL, name TEXT NOT NULL, certificates TEXT NOT NULL,
	crls TEXT NOT NULL, is_default BOOLEAN NOT NULL, sequence BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, set_id));`,
}}

// Projection keeps trust_sets.
type Projection struct{}

func (Projection) Name() string { return "trust_sets" }
func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Added{}, &Changed{}, &Removed{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM trust_sets`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a := e.Aggregate
	var err error
	switch p := e.Payload.(type) {
	case *Added:
		_, err = tx.ExecContext(ctx, `INSERT INTO trust_sets (instance_id, set_id, name, certificates, crls, is_default, sequence, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.InstanceID, a.ID, p.Name, p.Certificates, p.CRLs, p.Default, e.Sequence, e.CreatedAt.Unix())
	case *Changed:
		_, err = tx.ExecContext(ctx, `UPDATE trust_sets SET name = $1, certificates = $2, crls = $3, is_default = $4, sequence = $5
WHERE instance_id = $6 AND set_id = $7`, p.Name, p.Certificates, p.CRLs, p.Default, e.Sequence, a.InstanceID, a.ID)
	case *Removed:
		_, err = tx.ExecContext(ctx, `DELETE FROM trust_sets WHERE instance_id = $1 AND set_id = $2`, a.InstanceID, a.ID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

const selectSet = `SELECT set_id, name, certificates, crls, is_default, sequence, created_at FROM trust_sets`

func scan(row interface{ Scan(...any) error }, instanceID string) (TrustSet, int64, error) {
	t := TrustSet{InstanceID: instanceID}
	var seq, created int64
	if err := row.Scan(&t.ID, &t.Name, &t.Certificates, &t.CRLs, &t.Default, &seq, &created); err != nil {
		return TrustSet{}, 0, err
	}
	t.CreatedAt = time.Unix(created, 0).UTC()
	return t, seq, nil
}

func get(ctx context.Context, db *database.DB, instanceID, setID string) (TrustSet, int64, error) {
	t, seq, err := scan(db.Reader().QueryRowContext(ctx, selectSet+` WHERE instance_id = $1 AND set_id = $2`, instanceID, setID), instanceID)
	if errors.Is(err, sql.ErrNoRows) {
		return TrustSet{}, 0, failure.NotFound("trust set %.64q not found", setID)
	}
	if err != nil {
		return TrustSet{}, 0, fmt.Errorf("trustset: %w", err)
	}
	return t, seq, nil
}

// Get returns a trust set, or failure.NotFound.
func Get(ctx context.Context, db *database.DB, instanceID, setID string) (TrustSet, error) {
	t, _, err := get(ctx, db, instanceID, setID)
	return t, err
}

// Default returns the instance's default trust set, or failure.NotFound.
func Default(ctx context.Context, db *database.DB, instanceID string) (TrustSet, error) {
	t, _, err := scan(db.Reader().QueryRowContext(ctx, selectSet+` WHERE instance_id = $1 AND is_default`, instanceID), instanceID)
	if errors.Is(err, sql.ErrNoRows) {
		return TrustSet{}, failure.NotFound("the instance has no default trust set")
	}
	if err != nil {
		return TrustSet{}, fmt.Errorf("trustset: %w", err)
	}
	return t, nil
}

// List returns the trust sets of an instance by name.
func List(ctx context.Context, db *database.DB, instanceID string) ([]TrustSet, error) {
	rows, err := db.Reader().QueryContext(ctx, selectSet+` WHERE instance_id = $1 ORDER BY name, set_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("trustset: list: %w", err)
	}
	defer rows.Close()
	var out []TrustSet
	for rows.Next() {
		t, _, err := scan(rows, instanceID)
		if err != nil {
			return nil, fmt.Errorf("trustset: list: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
