// Package pii holds the per-subject keys that seal personal data in the
// event log (eventstore.Sealer), so that erasing a user — GDPR Art. 17 — is
// destroying one key: the events stay, their personal fields become
// unreadable everywhere at once, including in backups taken later.
//
// Each subject (a user) gets a random 256-bit data key at its first
// personal event. The key is stored in pii_keys wrapped by the master key
// ring (package keyring), never in the event log, and deleted on erasure.
// Personal data is sealed with AES-256-GCM under the data key, bound to the
// instance and subject as associated data.
//
// Backups of the database taken before an erasure still hold the key; the
// operator's backup retention bounds how long erased data survives there.
package pii

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/keyring"
)

// Migrations create pii_keys.
var Migrations = []database.Migration{{
	Name: "pii/0001_keys",
	SQLite: `CREATE TABLE pii_keys (instance_id TEXT NOT NULL, subject_id TEXT NOT NULL, wrapped BLOB NOT NULL, created_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, subject_id))`,
	Postgres: `CREATE TABLE pii_keys (instance_id TEXT NOT NULL, subject_id TEXT NOT NULL, wrapped BYTEA NOT NULL, created_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, subject_id))`,
}}

// Keys implements eventstore.Sealer.
type Keys struct {
	ring *keyring.Ring
}

var _ eventstore.Sealer = (*Keys)(nil)

// New returns the sealer, wrapping data keys with ring.
func New(ring *keyring.Ring) *Keys { return &Keys{ring: ring} }

func associated(instanceID, subject string) []byte {
	return []byte("castellan/pii/" + instanceID + "/" + subject)
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (k *Keys) load(ctx context.Context, q rowQuerier, instanceID, subject string) (cipher.AEAD, error) {
	var wrapped []byte
	err := q.QueryRowContext(ctx, `SELECT wrapped FROM pii_keys WHERE instance_id = $1 AND subject_id = $2`, instanceID, subject).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, eventstore.ErrErased
	}
	if err != nil {
		return nil, fmt.Errorf("pii: read key of %s: %w", subject, err)
	}
	key, err := k.ring.Decrypt(wrapped, associated(instanceID, subject))
	if err != nil {
		return nil, fmt.Errorf("pii: unwrap key of %s: %w", subject, err)
	}
	return aead(key)
}

func aead(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext under subject's key, creating the key in tx.
func (k *Keys) Seal(ctx context.Context, tx *database.Tx, instanceID, subject string, plaintext []byte) ([]byte, error) {
	key, err := k.load(ctx, tx, instanceID, subject)
	if errors.Is(err, eventstore.ErrErased) {
		key, err = k.create(ctx, tx, instanceID, subject)
	}
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, key.NonceSize(), key.NonceSize()+len(plaintext)+key.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return key.Seal(nonce, nonce, plaintext, associated(instanceID, subject)), nil
}

func (k *Keys) create(ctx context.Context, tx *database.Tx, instanceID, subject string) (cipher.AEAD, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	wrapped, err := k.ring.Encrypt(fresh, associated(instanceID, subject))
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO pii_keys (instance_id, subject_id, wrapped, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (instance_id, subject_id) DO NOTHING`, instanceID, subject, wrapped, time.Now().Unix()); err != nil {
		return nil, fmt.Errorf("pii: store key of %s: %w", subject, err)
	}
	// Another transaction may have created it first; use whichever is stored.
	return k.load(ctx, tx, instanceID, subject)
}

// Opener decrypts sealed data, remembering keys for one query.
func (k *Keys) Opener(ctx context.Context, q eventstore.Querier) func(instanceID, subject string, sealed []byte) ([]byte, error) {
	type cached struct {
		key cipher.AEAD
		err error
	}
	keys := map[[2]string]cached{}
	return func(instanceID, subject string, sealed []byte) ([]byte, error) {
		id := [2]string{instanceID, subject}
		c, ok := keys[id]
		if !ok {
			c.key, c.err = k.load(ctx, q, instanceID, subject)
			keys[id] = c
		}
		if c.err != nil {
			return nil, c.err
		}
		n := c.key.NonceSize()
		if len(sealed) < n+c.key.Overhead() {
			return nil, errors.New("pii: sealed data too short")
		}
		return c.key.Open(nil, sealed[:n], sealed[n:], associated(instanceID, subject))
	}
}

// Erase destroys subject's key.
func (k *Keys) Erase(ctx context.Context, tx *database.Tx, instanceID, subject string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM pii_keys WHERE instance_id = $1 AND subject_id = $2`, instanceID, subject)
	return err
}
