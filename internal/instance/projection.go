package instance

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Migrations create the instance read model.
var Migrations = []database.Migration{{
	Name: "instance/0001_instances",
	SQLite: `
CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL, sequence INTEGER NOT NULL);
CREATE TABLE instance_domains (instance_id TEXT NOT NULL, domain TEXT NOT NULL, is_primary INTEGER NOT NULL, PRIMARY KEY (instance_id, domain));
CREATE UNIQUE INDEX instance_domains_domain ON instance_domains (domain);
CREATE TABLE instance_members (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL, PRIMARY KEY (instance_id, user_id));`,
	Postgres: `
CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL, sequence BIGINT NOT NULL);
CREATE TABLE instance_domains (instance_id TEXT NOT NULL, domain TEXT NOT NULL, is_primary BOOLEAN NOT NULL, PRIMARY KEY (instance_id, domain));
CREATE UNIQUE INDEX instance_domains_domain ON instance_domains (domain);
CREATE TABLE instance_members (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, roles TEXT NOT NULL, PRIMARY KEY (instance_id, user_id));`,
}, {
	// Members moved to package authz's members table.
	Name:     "instance/0002_drop_instance_members",
	SQLite:   `DROP TABLE instance_members`,
	Postgres: `DROP TABLE instance_members`,
}}

// Projection keeps the instance read model.
type Projection struct{}

func (Projection) Name() string { return "instances" }

func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Added{}, &DomainAdded{}, &MemberAdded{}, &MemberRemoved{}) // members: only the sequence
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	for _, table := range []string{"instance_domains", "instances"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return err
		}
	}
	return nil
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	id := e.Aggregate.InstanceID
	var err error
	switch p := e.Payload.(type) {
	case *Added:
		_, err = tx.ExecContext(ctx, `INSERT INTO instances (id, name, created_at, sequence) VALUES ($1, $2, $3, $4)`,
			id, p.Name, e.CreatedAt.UnixMicro(), e.Sequence)
	case *DomainAdded:
		if p.Primary {
			if _, err = tx.ExecContext(ctx, `UPDATE instance_domains SET is_primary = $1 WHERE instance_id = $2`, false, id); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO instance_domains (instance_id, domain, is_primary) VALUES ($1, $2, $3)`, id, p.Domain, p.Primary)
	case *MemberAdded, *MemberRemoved:
		// Kept by package authz; here only the instance's sequence moves.
	default:
		return fmt.Errorf("unexpected payload %T", e.Payload)
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE instances SET sequence = $1 WHERE id = $2`, e.Sequence, id)
	return err
}
