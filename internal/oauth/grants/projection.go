package grants

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/castellan-iam/castellan/internal/oauth"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Migrations create the grant and refresh token tables.
var Migrations = []database.Migration{{
	Name: "grants/0001_grants",
	SQLite: `CREATE TABLE oauth_grants (instance_id TEXT NOT NULL, grant_id TEXT NOT NULL, client_id TEXT NOT NULL, user_id TEXT NOT NULL,
	org_id TEXT NOT NULL, session_id TEXT NOT NULL, scope TEXT NOT NULL, auth_time INTEGER NOT NULL, amr TEXT NOT NULL, created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL, revoked BOOLEAN NOT NULL DEFAULT FALSE, PRIMARY KEY (instance_id, grant_id));
CREATE INDEX oauth_grants_session ON oauth_grants (instance_id, session_id);
CREATE INDEX oauth_grants_expiry ON oauth_grants (expires_at);
CREATE TABLE refresh_tokens (instance_id TEXT NOT NULL, token_hash TEXT NOT NULL, grant_id TEXT NOT NULL, created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL, used_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (instance_id, token_hash));
CREATE INDEX refresh_tokens_grant ON refresh_tokens (instance_id, grant_id);`,
	Postgres: `CREATE TABLE oauth_grants (instance_id TEXT NOT NULL, grant_id TEXT NOT NULL, client_id TEXT NOT NULL, user_id TEXT NOT NULL,
	org_id TEXT NOT NULL, session_id TEXT NOT NULL, scope TEXT NOT NULL, auth_time BIGINT NOT NULL, amr TEXT NOT NULL, created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT FALSE, PRIMARY KEY (instance_id, grant_id));
CREATE INDEX oauth_grants_session ON oauth_grants (instance_id, session_id);
CREATE INDEX oauth_grants_expiry ON oauth_grants (expires_at);
CREATE TABLE refresh_tokens (instance_id TEXT NOT NULL, token_hash TEXT NOT NULL, grant_id TEXT NOT NULL, created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL, used_at BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (instance_id, token_hash));
CREATE INDEX refresh_tokens_grant ON refresh_tokens (instance_id, grant_id);`,
}, {
	Name:     "grants/0002_user_index",
	SQLite:   `CREATE INDEX oauth_grants_user ON oauth_grants (instance_id, user_id, client_id);`,
	Postgres: `CREATE INDEX oauth_grants_user ON oauth_grants (instance_id, user_id, client_id);`,
}, {
	Name:     "grants/0003_resources",
	SQLite:   `ALTER TABLE oauth_grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE oauth_grants ADD COLUMN resources TEXT NOT NULL DEFAULT '';`,
}, {
	Name:     "grants/0100_dpop_jkt",
	SQLite:   `ALTER TABLE oauth_grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE oauth_grants ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';`,
}, {
	Name:     "grants/0004_confirmation",
	SQLite:   `ALTER TABLE oauth_grants ADD COLUMN cnf TEXT NOT NULL DEFAULT '';`,
	Postgres: `ALTER TABLE oauth_grants ADD COLUMN cnf TEXT NOT NULL DEFAULT '';`,
}, {
	// The grants of a client, ended when its type changes.
	Name:     "grants/0110_client_index",
	SQLite:   `CREATE INDEX oauth_grants_client ON oauth_grants (instance_id, client_id);`,
	Postgres: `CREATE INDEX oauth_grants_client ON oauth_grants (instance_id, client_id);`,
}}

// Projection keeps oauth_grants and the first refresh token of each.
// Rotated tokens are written by Grants.Refresh, not by events: a rebuild
// keeps the grants and their revocation, and the rotated tokens of live
// grants stay (Reset leaves refresh_tokens rows of rotations alone).
type Projection struct{}

func (Projection) Name() string { return "oauth_grants" }
func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Issued{}, &ReuseDetected{}, &Revoked{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM oauth_grants`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a := e.Aggregate
	var err error
	switch p := e.Payload.(type) {
	case *Issued:
		_, err = tx.ExecContext(ctx, `INSERT INTO oauth_grants (instance_id, grant_id, client_id, user_id, org_id, session_id, scope, auth_time, amr,
	created_at, expires_at, resources, dpop_jkt, cnf) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			a.InstanceID, a.ID, p.ClientID, p.UserID, a.Owner, p.SessionID, strings.Join(p.Scopes, " "), p.AuthTime.Unix(), strings.Join(p.AMR, " "),
			e.CreatedAt.Unix(), p.ExpiresAt.Unix(), strings.Join(p.Resources, " "), p.DPoPJKT, confirmationJSON(p.Cnf))
		if err == nil && p.RefreshTokenHash != "" {
			_, err = tx.ExecContext(ctx, `INSERT INTO refresh_tokens (instance_id, token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`, a.InstanceID, p.RefreshTokenHash, a.ID, e.CreatedAt.Unix(), p.RefreshExpiresAt.Unix())
		}
	case *ReuseDetected:
	case *Revoked:
		_, err = tx.ExecContext(ctx, `UPDATE oauth_grants SET revoked = $1 WHERE instance_id = $2 AND grant_id = $3`, true, a.InstanceID, a.ID)
		if err == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE instance_id = $1 AND grant_id = $2`, a.InstanceID, a.ID)
		}
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

// confirmationJSON is the cnf column: "" for none.
func confirmationJSON(c *oauth.Confirmation) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}
