package settings

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
)

// Migrations create the settings read model: one row per group set at a
// level, org_id empty for the instance level, value the group's JSON.
var Migrations = []database.Migration{{
	Name: "settings/0001_settings",
	SQLite: `CREATE TABLE settings (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, grp TEXT NOT NULL, value TEXT NOT NULL,
	updated_at INTEGER NOT NULL, PRIMARY KEY (instance_id, org_id, grp))`,
	Postgres: `CREATE TABLE settings (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, grp TEXT NOT NULL, value TEXT NOT NULL,
	updated_at BIGINT NOT NULL, PRIMARY KEY (instance_id, org_id, grp))`,
}}

// Projection keeps the settings table.
type Projection struct{}

func (Projection) Name() string { return "settings" }

// EventTypes are the settings events and an organization's removal, which
// drops its overrides.
func (Projection) EventTypes() []string {
	return append(EventTypes(), (&org.Removed{}).EventType())
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM settings`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	inst, orgID := e.Aggregate.InstanceID, e.Aggregate.Owner
	switch p := e.Payload.(type) {
	case setEvent:
		v := p.value()
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO settings (instance_id, org_id, grp, value, updated_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, org_id, grp) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			inst, orgID, string(v.Group()), string(data), e.CreatedAt.UnixMicro())
		return err
	case resetEvent:
		_, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE instance_id = $1 AND org_id = $2 AND grp = $3`, inst, orgID, string(p.group()))
		return err
	case *org.Removed:
		_, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE instance_id = $1 AND org_id = $2`, inst, e.Aggregate.ID)
		return err
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}
