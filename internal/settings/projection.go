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
}, {
	// One row per instance that sets a provider; an unset provider has an
	// empty host or URL. Secrets stay sealed.
	Name: "settings/0002_notification_providers",
	SQLite: `CREATE TABLE notification_providers (instance_id TEXT NOT NULL PRIMARY KEY,
	smtp_host TEXT NOT NULL, smtp_port INTEGER NOT NULL, smtp_username TEXT NOT NULL, smtp_from TEXT NOT NULL, smtp_tls TEXT NOT NULL,
	smtp_password BLOB NOT NULL, sms_url TEXT NOT NULL, sms_secret BLOB NOT NULL, updated_at INTEGER NOT NULL)`,
	Postgres: `CREATE TABLE notification_providers (instance_id TEXT NOT NULL PRIMARY KEY,
	smtp_host TEXT NOT NULL, smtp_port INTEGER NOT NULL, smtp_username TEXT NOT NULL, smtp_from TEXT NOT NULL, smtp_tls TEXT NOT NULL,
	smtp_password BYTEA NOT NULL, sms_url TEXT NOT NULL, sms_secret BYTEA NOT NULL, updated_at BIGINT NOT NULL)`,
}}

// Projection keeps the settings and notification_providers tables.
type Projection struct{}

func (Projection) Name() string { return "settings" }

// EventTypes are the settings events and an organization's removal, which
// drops its overrides.
func (Projection) EventTypes() []string {
	return append(AllEventTypes(), (&org.Removed{}).EventType())
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	for _, table := range []string{"settings", "notification_providers"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return err
		}
	}
	return nil
}

// upsertProviders writes the columns of one provider of an instance's
// row, creating the row with the other provider unset.
const upsertProviders = `INSERT INTO notification_providers (instance_id, smtp_host, smtp_port, smtp_username, smtp_from, smtp_tls, smtp_password,
	sms_url, sms_secret, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (instance_id) DO UPDATE SET `

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
	case *SMTPProviderSet:
		return exec(ctx, tx, upsertProviders+`smtp_host = excluded.smtp_host, smtp_port = excluded.smtp_port, smtp_username = excluded.smtp_username,
	smtp_from = excluded.smtp_from, smtp_tls = excluded.smtp_tls, smtp_password = excluded.smtp_password, updated_at = excluded.updated_at`,
			inst, p.Host, p.Port, p.Username, p.From, p.TLS, orEmpty(p.PasswordSealed), "", []byte{}, e.CreatedAt.UnixMicro())
	case *SMTPProviderReset:
		return exec(ctx, tx, `UPDATE notification_providers SET smtp_host = '', smtp_port = 0, smtp_username = '', smtp_from = '', smtp_tls = '',
	smtp_password = $1, updated_at = $2 WHERE instance_id = $3`, []byte{}, e.CreatedAt.UnixMicro(), inst)
	case *SMSProviderSet:
		return exec(ctx, tx, upsertProviders+`sms_url = excluded.sms_url, sms_secret = excluded.sms_secret, updated_at = excluded.updated_at`,
			inst, "", 0, "", "", "", []byte{}, p.URL, orEmpty(p.SecretSealed), e.CreatedAt.UnixMicro())
	case *SMSProviderReset:
		return exec(ctx, tx, `UPDATE notification_providers SET sms_url = '', sms_secret = $1, updated_at = $2 WHERE instance_id = $3`,
			[]byte{}, e.CreatedAt.UnixMicro(), inst)
	case *org.Removed:
		_, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE instance_id = $1 AND org_id = $2`, inst, e.Aggregate.ID)
		return err
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}

func exec(ctx context.Context, tx *database.Tx, query string, args ...any) error {
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}

// orEmpty is b, or an empty (not NULL) value for a NOT NULL column.
func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
