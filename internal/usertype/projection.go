package usertype

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Migrations create the user type read model.
var Migrations = []database.Migration{{
	Name: "usertype/0001_user_schemas",
	SQLite: `CREATE TABLE user_schemas (instance_id TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL, revision INTEGER NOT NULL,
	created_at INTEGER NOT NULL, changed_at INTEGER NOT NULL, PRIMARY KEY (instance_id, id));
CREATE UNIQUE INDEX user_schemas_type ON user_schemas (instance_id, type);
CREATE TABLE user_schema_revisions (instance_id TEXT NOT NULL, schema_id TEXT NOT NULL, revision INTEGER NOT NULL, document TEXT NOT NULL,
	PRIMARY KEY (instance_id, schema_id, revision));`,
	Postgres: `CREATE TABLE user_schemas (instance_id TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL, revision INTEGER NOT NULL,
	created_at BIGINT NOT NULL, changed_at BIGINT NOT NULL, PRIMARY KEY (instance_id, id));
CREATE UNIQUE INDEX user_schemas_type ON user_schemas (instance_id, type);
CREATE TABLE user_schema_revisions (instance_id TEXT NOT NULL, schema_id TEXT NOT NULL, revision INTEGER NOT NULL, document TEXT NOT NULL,
	PRIMARY KEY (instance_id, schema_id, revision));`,
}}

// Projection keeps user_schemas and user_schema_revisions. Revisions of a
// deleted type stay, so users written under it remain readable.
type Projection struct{}

func (Projection) Name() string { return "user_schemas" }

func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Created{}, &Updated{}, &Deactivated{}, &Reactivated{}, &Deleted{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	for _, table := range []string{"user_schema_revisions", "user_schemas"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return err
		}
	}
	return nil
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	inst, id, at := e.Aggregate.InstanceID, e.Aggregate.ID, e.CreatedAt.UnixMicro()
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	switch p := e.Payload.(type) {
	case *Created:
		if err := exec(`INSERT INTO user_schemas (instance_id, id, type, state, revision, created_at, changed_at) VALUES ($1, $2, $3, $4, 1, $5, $5)`,
			inst, id, p.Type, string(StateActive), at); err != nil {
			return err
		}
		return exec(`INSERT INTO user_schema_revisions (instance_id, schema_id, revision, document) VALUES ($1, $2, 1, $3)`, inst, id, string(p.Document))
	case *Updated:
		if err := exec(`UPDATE user_schemas SET revision = revision + 1, changed_at = $1 WHERE instance_id = $2 AND id = $3`, at, inst, id); err != nil {
			return err
		}
		return exec(`INSERT INTO user_schema_revisions (instance_id, schema_id, revision, document)
SELECT instance_id, id, revision, $1 FROM user_schemas WHERE instance_id = $2 AND id = $3`, string(p.Document), inst, id)
	case *Deactivated:
		return exec(`UPDATE user_schemas SET state = $1, changed_at = $2 WHERE instance_id = $3 AND id = $4`, string(StateInactive), at, inst, id)
	case *Reactivated:
		return exec(`UPDATE user_schemas SET state = $1, changed_at = $2 WHERE instance_id = $3 AND id = $4`, string(StateActive), at, inst, id)
	case *Deleted:
		return exec(`DELETE FROM user_schemas WHERE instance_id = $1 AND id = $2`, inst, id)
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}
