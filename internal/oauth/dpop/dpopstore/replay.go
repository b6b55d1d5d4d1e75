// Package dpopstore is the database side of DPoP (package dpop): the
// table dpop_proofs of the proofs seen, shared by every replica, so that a
// proof is accepted once whichever replica it reaches. It is apart from
// package dpop so that the proof checks (used by the Go SDK's resource
// server middleware too) do not bring in the database drivers.
package dpopstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// Migrations create the table of the proofs seen (Replays).
var Migrations = []database.Migration{{
	Name: "dpop/0001_dpop_proofs",
	SQLite: `CREATE TABLE dpop_proofs (instance_id TEXT NOT NULL, proof_hash TEXT NOT NULL, expires_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, proof_hash));
CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);`,
	Postgres: `CREATE TABLE dpop_proofs (instance_id TEXT NOT NULL, proof_hash TEXT NOT NULL, expires_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, proof_hash));
CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);`,
}}

// Replays remembers the proofs seen, per instance, in the database: the
// SHA-256 of the key's thumbprint and the jti, until the proof could no
// longer be accepted (its iat + dpop.Lifetime + dpop.Skew). It is the
// dpop.Replayer of the provider. The insert does nothing
// on a conflict, so a proof already seen is found by the database's
// primary key, whichever replica saw it first, and two replicas racing
// with one proof cannot both win. Concurrent proofs share a transaction
// (database.GroupCommit): the cost of a proof is its part of one commit.
type Replays struct {
	db      *database.DB
	commits database.GroupCommit
}

// NewReplays returns the store of db.
func NewReplays(db *database.DB) *Replays { return &Replays{db: db} }

const insertProof = `INSERT INTO dpop_proofs (instance_id, proof_hash, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`

func proofHash(jkt, jti string) string {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	return hex.EncodeToString(sum[:])
}

// Remember records the proof of key jkt with jti until expires, and
// reports whether it was not seen before.
func (r *Replays) Remember(ctx context.Context, instanceID, jkt, jti string, expires time.Time) (bool, error) {
	stmt, err := r.db.Prepared(ctx, insertProof)
	if err != nil {
		return false, fmt.Errorf("dpop: replay: %w", err)
	}
	fresh := false
	err = r.commits.Run(ctx, r.db, func(ctx context.Context, tx *database.Tx) error {
		if tx.Dialect == database.Postgres {
			// The commit need not wait for the WAL's flush: the row is
			// visible to every replica at commit either way, and all a
			// crash of the database could lose is the last moment's
			// proofs, for the rest of their 70 seconds.
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
				return err
			}
		}
		var err error
		fresh, err = database.OneRow(tx.StmtContext(ctx, stmt).ExecContext(ctx, instanceID, proofHash(jkt, jti), expires.Unix()))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("dpop: replay: %w", err)
	}
	return fresh, nil
}

// Sweep deletes the proofs that expired before now.
func Sweep(ctx context.Context, db *database.DB, now time.Time) error {
	return db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM dpop_proofs WHERE expires_at < $1`, now.Unix())
		return err
	})
}
