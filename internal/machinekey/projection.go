package machinekey

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Migrations create the machine key read model and the table of the jti
// of used assertions (assertion.go).
var Migrations = []database.Migration{{
	Name: "machinekey/0001_keys",
	SQLite: `CREATE TABLE machine_keys (instance_id TEXT NOT NULL, key_id TEXT NOT NULL, user_id TEXT NOT NULL, algorithm TEXT NOT NULL,
	public_jwk TEXT NOT NULL, thumbprint TEXT NOT NULL, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, key_id));
CREATE INDEX machine_keys_user ON machine_keys (instance_id, user_id);`,
	Postgres: `CREATE TABLE machine_keys (instance_id TEXT NOT NULL, key_id TEXT NOT NULL, user_id TEXT NOT NULL, algorithm TEXT NOT NULL,
	public_jwk TEXT NOT NULL, thumbprint TEXT NOT NULL, expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, key_id));
CREATE INDEX machine_keys_user ON machine_keys (instance_id, user_id);`,
}, {
	Name: "machinekey/0002_assertions",
	SQLite: `CREATE TABLE machine_key_assertions (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, user_id, jti));
CREATE INDEX machine_key_assertions_expiry ON machine_key_assertions (expires_at);`,
	Postgres: `CREATE TABLE machine_key_assertions (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, user_id, jti));
CREATE INDEX machine_key_assertions_expiry ON machine_key_assertions (expires_at);`,
}}

// Projection keeps machine_keys.
type Projection struct{}

func (Projection) Name() string { return "machine_keys" }
func (Projection) EventTypes() []string {
	return eventstore.TypesOf(&Added{}, &Removed{})
}

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM machine_keys`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	var err error
	switch p := e.Payload.(type) {
	case *Added:
		_, err = tx.ExecContext(ctx, `INSERT INTO machine_keys (instance_id, key_id, user_id, algorithm, public_jwk, thumbprint, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			e.Aggregate.InstanceID, p.KeyID, e.Aggregate.ID, p.Algorithm, string(p.PublicKey), p.Fingerprint, p.ExpiresAt.Unix(), e.CreatedAt.Unix())
	case *Removed:
		_, err = tx.ExecContext(ctx, `DELETE FROM machine_keys WHERE instance_id = $1 AND key_id = $2 AND user_id = $3`,
			e.Aggregate.InstanceID, p.KeyID, e.Aggregate.ID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

const selectKey = `SELECT key_id, user_id, algorithm, public_jwk, thumbprint, expires_at, created_at FROM machine_keys`

type scanner interface{ Scan(dest ...any) error }

func scanKey(row scanner) (Key, error) {
	var k Key
	var jwkText string
	var expires, created int64
	if err := row.Scan(&k.ID, &k.UserID, &k.Algorithm, &jwkText, &k.Thumbprint, &expires, &created); err != nil {
		return Key{}, err
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON([]byte(jwkText)); err != nil || !jwk.IsPublic() {
		return Key{}, fmt.Errorf("stored public key of %s is unreadable: %v", k.ID, err)
	}
	k.PublicKey = jwk.Key
	k.PublicJWK = json.RawMessage(jwkText)
	k.ExpiresAt = time.Unix(expires, 0).UTC()
	k.CreatedAt = time.Unix(created, 0).UTC()
	return k, nil
}

// Get returns a key of an instance by id, expired or not (see Key.Usable).
// An unknown or removed key is failure.NotFound.
func Get(ctx context.Context, db *database.DB, instanceID, keyID string) (Key, error) {
	k, err := scanKey(db.Reader().QueryRowContext(ctx, selectKey+` WHERE instance_id = $1 AND key_id = $2`, instanceID, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, failure.NotFound("machine key %.64q not found", keyID)
	}
	if err != nil {
		return Key{}, fmt.Errorf("machinekey: get: %w", err)
	}
	return k, nil
}

// List returns the keys of a user, expired ones included, oldest first.
func List(ctx context.Context, db *database.DB, instanceID, userID string) ([]Key, error) {
	rows, err := db.Reader().QueryContext(ctx, selectKey+` WHERE instance_id = $1 AND user_id = $2 ORDER BY created_at, key_id`, instanceID, userID)
	if err != nil {
		return nil, fmt.Errorf("machinekey: list: %w", err)
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("machinekey: list: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("machinekey: list: %w", err)
	}
	return keys, nil
}
