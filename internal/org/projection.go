package org

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Migrations create the organization read model.
var Migrations = []database.Migration{{
	Name:     "org/0001_orgs",
	SQLite:   `CREATE TABLE orgs (instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, sequence INTEGER NOT NULL, PRIMARY KEY (instance_id, id))`,
	Postgres: `CREATE TABLE orgs (instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, sequence BIGINT NOT NULL, PRIMARY KEY (instance_id, id))`,
}, {
	Name: "org/0002_domains_metadata",
	SQLite: `
ALTER TABLE orgs ADD COLUMN primary_domain TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX orgs_name ON orgs (instance_id, name);
CREATE TABLE org_domains (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, domain TEXT NOT NULL, verified INTEGER NOT NULL,
	is_primary INTEGER NOT NULL, method TEXT NOT NULL, PRIMARY KEY (instance_id, org_id, domain));
CREATE INDEX org_domains_domain ON org_domains (instance_id, domain);
CREATE TABLE org_metadata (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
	PRIMARY KEY (instance_id, org_id, key));`,
	Postgres: `
ALTER TABLE orgs ADD COLUMN primary_domain TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orgs_name ON orgs (instance_id, name);
CREATE TABLE org_domains (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, domain TEXT NOT NULL, verified BOOLEAN NOT NULL,
	is_primary BOOLEAN NOT NULL, method TEXT NOT NULL, PRIMARY KEY (instance_id, org_id, domain));
CREATE INDEX org_domains_domain ON org_domains (instance_id, domain);
CREATE TABLE org_metadata (instance_id TEXT NOT NULL, org_id TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL,
	PRIMARY KEY (instance_id, org_id, key));`,
}, {
	// Prefix searches compare bytes, whatever the database's locale.
	Name:     "org/0003_name_collation",
	SQLite:   `SELECT 1`,
	Postgres: `ALTER TABLE orgs ALTER COLUMN name TYPE TEXT COLLATE "C"`,
}, {
	Name:     "org/0004_domain_policy",
	SQLite:   `ALTER TABLE orgs ADD COLUMN login_name_must_be_domain INTEGER NOT NULL DEFAULT 0`,
	Postgres: `ALTER TABLE orgs ADD COLUMN login_name_must_be_domain BOOLEAN NOT NULL DEFAULT false`,
}}

// Projection keeps orgs, org_domains and org_metadata.
type Projection struct{}

func (Projection) Name() string         { return "orgs" }
func (Projection) EventTypes() []string { return EventTypes() }

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	for _, table := range []string{"org_metadata", "org_domains", "orgs"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return err
		}
	}
	return nil
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	inst, orgID, at := e.Aggregate.InstanceID, e.Aggregate.ID, e.CreatedAt.UnixMicro()
	exec := func(query string, args ...any) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	}
	if _, ok := e.Payload.(*Added); !ok {
		if err := exec(`UPDATE orgs SET sequence = $1, changed_at = $2 WHERE instance_id = $3 AND id = $4`, e.Sequence, at, inst, orgID); err != nil {
			return err
		}
	}
	switch p := e.Payload.(type) {
	case *Added:
		return exec(`INSERT INTO orgs (instance_id, id, name, state, created_at, changed_at, sequence) VALUES ($1, $2, $3, $4, $5, $5, $6)`,
			inst, orgID, p.Name, string(StateActive), at, e.Sequence)
	case *Renamed:
		return exec(`UPDATE orgs SET name = $1 WHERE instance_id = $2 AND id = $3`, p.Name, inst, orgID)
	case *Deactivated:
		return exec(`UPDATE orgs SET state = $1 WHERE instance_id = $2 AND id = $3`, string(StateInactive), inst, orgID)
	case *Reactivated:
		return exec(`UPDATE orgs SET state = $1 WHERE instance_id = $2 AND id = $3`, string(StateActive), inst, orgID)
	case *Removed:
		if err := exec(`DELETE FROM org_domains WHERE instance_id = $1 AND org_id = $2`, inst, orgID); err != nil {
			return err
		}
		if err := exec(`DELETE FROM org_metadata WHERE instance_id = $1 AND org_id = $2`, inst, orgID); err != nil {
			return err
		}
		return exec(`UPDATE orgs SET state = $1, primary_domain = '' WHERE instance_id = $2 AND id = $3`, string(StateRemoved), inst, orgID)
	case *DomainAdded:
		return exec(`INSERT INTO org_domains (instance_id, org_id, domain, verified, is_primary, method) VALUES ($1, $2, $3, $4, $4, '')`,
			inst, orgID, p.Domain, false)
	case *DomainVerificationRequested:
		return exec(`UPDATE org_domains SET method = $1 WHERE instance_id = $2 AND org_id = $3 AND domain = $4`, p.Method, inst, orgID, p.Domain)
	case *DomainVerified:
		return exec(`UPDATE org_domains SET verified = $1 WHERE instance_id = $2 AND org_id = $3 AND domain = $4`, true, inst, orgID, p.Domain)
	case *PrimaryDomainSet:
		if err := exec(`UPDATE org_domains SET is_primary = (domain = $1) WHERE instance_id = $2 AND org_id = $3`, p.Domain, inst, orgID); err != nil {
			return err
		}
		return exec(`UPDATE orgs SET primary_domain = $1 WHERE instance_id = $2 AND id = $3`, p.Domain, inst, orgID)
	case *DomainRemoved:
		return exec(`DELETE FROM org_domains WHERE instance_id = $1 AND org_id = $2 AND domain = $3`, inst, orgID, p.Domain)
	case *MetadataSet:
		return exec(`INSERT INTO org_metadata (instance_id, org_id, key, value) VALUES ($1, $2, $3, $4)
ON CONFLICT (instance_id, org_id, key) DO UPDATE SET value = excluded.value`, inst, orgID, p.Key, p.Value)
	case *DomainPolicySet:
		return exec(`UPDATE orgs SET login_name_must_be_domain = $1 WHERE instance_id = $2 AND id = $3`, p.LoginNameMustBeDomain, inst, orgID)
	case *MetadataRemoved:
		return exec(`DELETE FROM org_metadata WHERE instance_id = $1 AND org_id = $2 AND key = $3`, inst, orgID, p.Key)
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}
