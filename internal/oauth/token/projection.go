package token

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Migrations create the web key and revocation read models.
var Migrations = []database.Migration{{
	Name: "token/0001_web_keys",
	SQLite: `CREATE TABLE web_keys (instance_id TEXT NOT NULL, key_id TEXT NOT NULL, algorithm TEXT NOT NULL, state TEXT NOT NULL,
	public_jwk TEXT NOT NULL, private_sealed BLOB NOT NULL, created_at INTEGER NOT NULL, activated_at INTEGER, retired_at INTEGER,
	PRIMARY KEY (instance_id, key_id));
CREATE TABLE revoked_tokens (instance_id TEXT NOT NULL, token_id TEXT NOT NULL, client_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, token_id));
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (instance_id, expires_at);`,
	Postgres: `CREATE TABLE web_keys (instance_id TEXT NOT NULL, key_id TEXT NOT NULL, algorithm TEXT NOT NULL, state TEXT NOT NULL,
	public_jwk TEXT NOT NULL, private_sealed BYTEA NOT NULL, created_at BIGINT NOT NULL, activated_at BIGINT, retired_at BIGINT,
	PRIMARY KEY (instance_id, key_id));
CREATE TABLE revoked_tokens (instance_id TEXT NOT NULL, token_id TEXT NOT NULL, client_id TEXT NOT NULL, expires_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, token_id));
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (instance_id, expires_at);`,
}, {
	// The tokens issued by exchanging a token (its jti the parent): what
	// revoking it revokes too, until they expire.
	Name: "token/0110_exchanged_tokens",
	SQLite: `CREATE TABLE exchanged_tokens (instance_id TEXT NOT NULL, parent_id TEXT NOT NULL, token_id TEXT NOT NULL, client_id TEXT NOT NULL,
	owner_org TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (instance_id, parent_id, token_id));
CREATE INDEX exchanged_tokens_expiry ON exchanged_tokens (instance_id, expires_at);`,
	Postgres: `CREATE TABLE exchanged_tokens (instance_id TEXT NOT NULL, parent_id TEXT NOT NULL, token_id TEXT NOT NULL, client_id TEXT NOT NULL,
	owner_org TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (instance_id, parent_id, token_id));
CREATE INDEX exchanged_tokens_expiry ON exchanged_tokens (instance_id, expires_at);`,
}}

// Key states in web_keys.
const (
	StateNext    = "next"
	StateCurrent = "current"
	StateRetired = "retired"
)

// KeyProjection keeps web_keys.
type KeyProjection struct{}

func (KeyProjection) Name() string { return "web_keys" }
func (KeyProjection) EventTypes() []string {
	return eventstore.TypesOf(&KeyAdded{}, &KeyActivated{}, &KeyRemoved{})
}

func (KeyProjection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM web_keys`)
	return err
}

func (KeyProjection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	inst, at := e.Aggregate.InstanceID, e.CreatedAt.Unix()
	var err error
	switch p := e.Payload.(type) {
	case *KeyAdded:
		_, err = tx.ExecContext(ctx, `INSERT INTO web_keys (instance_id, key_id, algorithm, state, public_jwk, private_sealed, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, inst, p.KeyID, p.Algorithm, StateNext, string(p.PublicKey), p.PrivateKey, at)
	case *KeyActivated:
		if _, err = tx.ExecContext(ctx, `UPDATE web_keys SET state = $1, retired_at = $2 WHERE instance_id = $3 AND state = $4
AND algorithm = (SELECT algorithm FROM web_keys WHERE instance_id = $3 AND key_id = $5)`, StateRetired, at, inst, StateCurrent, p.KeyID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE web_keys SET state = $1, activated_at = $2 WHERE instance_id = $3 AND key_id = $4`,
			StateCurrent, at, inst, p.KeyID)
	case *KeyRemoved:
		_, err = tx.ExecContext(ctx, `DELETE FROM web_keys WHERE instance_id = $1 AND key_id = $2`, inst, p.KeyID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

// RevocationProjection keeps revoked_tokens: the revoked tokens that
// would otherwise still be valid. Each revocation also deletes the rows of
// its instance that expired before it, so the table holds live entries
// only, without a janitor, and a rebuild derives the same rows. It also
// keeps exchanged_tokens, what a revocation reaches further: one row per
// token exchanged and token it was exchanged from (subject and actor),
// until the exchanged token expires; each exchange deletes its
// instance's expired rows.
type RevocationProjection struct{}

func (RevocationProjection) Name() string { return "revoked_tokens" }
func (RevocationProjection) EventTypes() []string {
	return eventstore.TypesOf(&Revoked{}, &Exchanged{})
}

func (RevocationProjection) Reset(ctx context.Context, tx *database.Tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM revoked_tokens`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM exchanged_tokens`)
	return err
}

func (RevocationProjection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	if x, ok := e.Payload.(*Exchanged); ok {
		return reduceExchanged(ctx, tx, e, x)
	}
	p, ok := e.Payload.(*Revoked)
	if !ok {
		return fmt.Errorf("unexpected payload %T", e.Payload)
	}
	inst := e.Aggregate.InstanceID
	if _, err := tx.ExecContext(ctx, `DELETE FROM revoked_tokens WHERE instance_id = $1 AND expires_at < $2`, inst, e.CreatedAt.Unix()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO revoked_tokens (instance_id, token_id, client_id, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (instance_id, token_id) DO NOTHING`, inst, p.TokenID, p.ClientID, p.ExpiresAt)
	return err
}

func reduceExchanged(ctx context.Context, tx *database.Tx, e *eventstore.Event, x *Exchanged) error {
	inst := e.Aggregate.InstanceID
	if _, err := tx.ExecContext(ctx, `DELETE FROM exchanged_tokens WHERE instance_id = $1 AND expires_at < $2`, inst, e.CreatedAt.Unix()); err != nil {
		return err
	}
	for _, parent := range []string{x.SubjectTokenID, x.ActorTokenID} {
		if parent == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO exchanged_tokens (instance_id, parent_id, token_id, client_id, owner_org, expires_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instance_id, parent_id, token_id) DO NOTHING`, inst, parent, x.TokenID, x.ClientID, e.Aggregate.Owner, x.ExpiresAt); err != nil {
			return err
		}
	}
	return nil
}
