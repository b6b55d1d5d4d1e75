package history

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Snapshots. Replaying an organization with 100,000 events takes seconds,
// so a replay that folds SnapshotEvery events of aggregates whose state
// holds no personal data (snapshotTypes) stores the scratch database as it
// was after them: the next question about the same aggregates at a later
// moment starts from the newest snapshot older than that moment and folds
// only what followed. A snapshot is keyed by the aggregates, the position
// of the last event folded and a fingerprint of the migrations and
// projection versions that made it, so a binary whose read models differ
// never starts from another's snapshot. Events are immutable, so a
// snapshot never goes stale otherwise.
//
// Aggregates with personal data (users) are never snapshotted: a snapshot
// would hold it in plaintext, out of reach of erasure, which destroys the
// key that sealed it.

// SnapshotEvery is how many folded events make a snapshot (a variable
// for tests).
var SnapshotEvery = 10_000

// Migrations create the snapshot table.
var Migrations = []database.Migration{{
	Name: "history/0001_snapshots",
	SQLite: `CREATE TABLE history_snapshots (
	instance_id TEXT NOT NULL,
	refs TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	tx_id INTEGER NOT NULL,
	position INTEGER NOT NULL,
	last_created_at INTEGER NOT NULL,
	image BLOB NOT NULL,
	PRIMARY KEY (instance_id, refs, fingerprint, tx_id, position)
)`,
	Postgres: `CREATE TABLE history_snapshots (
	instance_id TEXT NOT NULL,
	refs TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	tx_id BIGINT NOT NULL,
	position BIGINT NOT NULL,
	last_created_at BIGINT NOT NULL,
	image BYTEA NOT NULL,
	PRIMARY KEY (instance_id, refs, fingerprint, tx_id, position)
)`,
}}

// snapshotKey returns the key of refs' snapshots, "" when one of them may
// hold personal data.
func snapshotKey(refs []Ref) string {
	var parts []string
	for _, r := range refs {
		if r.ID == "" {
			continue
		}
		if !snapshotTypes[r.Type] {
			return ""
		}
		parts = append(parts, r.Type+"/"+r.ID)
	}
	slices.Sort(parts)
	return strings.Join(slices.Compact(parts), " ")
}

// fingerprint names the read models a snapshot was made with.
func (r *Replayer) fingerprint() string {
	h := sha256.New()
	for _, m := range r.migrations {
		fmt.Fprintln(h, m.Name)
	}
	for _, p := range r.projections {
		v := 0
		if vp, ok := p.(eventstore.Versioned); ok {
			v = vp.Version()
		}
		fmt.Fprintln(h, p.Name(), v)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

type snapshot struct {
	after       eventstore.Position
	lastCreated time.Time
	image       []byte
}

// latestSnapshot returns the newest snapshot of key whose events were all
// created before until (any, when until is zero).
func (r *Replayer) latestSnapshot(ctx context.Context, instanceID, key string, until time.Time) (snapshot, bool, error) {
	bound := int64(1<<63 - 1)
	if !until.IsZero() {
		bound = until.UnixMicro()
	}
	var s snapshot
	var packed []byte
	var lastCreated int64
	err := r.store.DB().Reader().QueryRowContext(ctx, `SELECT tx_id, position, last_created_at, image FROM history_snapshots
WHERE instance_id = $1 AND refs = $2 AND fingerprint = $3 AND last_created_at < $4
ORDER BY tx_id DESC, position DESC LIMIT 1`, instanceID, key, r.fingerprint(), bound).Scan(&s.after.TxID, &s.after.Global, &lastCreated, &packed)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("history: read snapshot: %w", err)
	}
	s.lastCreated = time.UnixMicro(lastCreated).UTC()
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return s, false, fmt.Errorf("history: snapshot: %w", err)
	}
	if s.image, err = io.ReadAll(zr); err != nil {
		return s, false, fmt.Errorf("history: snapshot: %w", err)
	}
	return s, true, nil
}

// saveSnapshot stores the scratch database as it is after last.
func (r *Replayer) saveSnapshot(ctx context.Context, db *database.DB, instanceID, key string, last eventstore.Event, lastCreated time.Time) error {
	image, err := db.Serialize(ctx)
	if err != nil {
		return err
	}
	var packed bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&packed, gzip.BestSpeed)
	if _, err := zw.Write(image); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return r.store.DB().InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO history_snapshots (instance_id, refs, fingerprint, tx_id, position, last_created_at, image)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			instanceID, key, r.fingerprint(), last.Position.TxID, last.Position.Global, lastCreated.UnixMicro(), packed.Bytes())
		return err
	})
}
