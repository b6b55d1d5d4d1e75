package asset

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Asset is a stored file.
type Asset struct {
	// ID is the hex SHA-256 of Data.
	ID          string
	ContentType string
	Data        []byte
	CreatedAt   time.Time
}

// Store keeps the assets of every instance.
//
// Put stores data under its id (IDOf) for the instance and returns the id;
// putting bytes already stored changes nothing and returns the same id.
// It stores what it is given: callers admit the bytes first (Admit, or
// Upload which does both).
//
// Get returns an asset of the instance; an id the instance does not hold,
// malformed ids included, is failure.NotFound. No instance reads another's
// assets, even of identical bytes.
type Store interface {
	Put(ctx context.Context, instanceID, contentType string, data []byte) (id string, err error)
	Get(ctx context.Context, instanceID, id string) (Asset, error)
}

// PathPrefix is the path, on an instance's own host, under which the login
// serves its assets: an asset's URL is PathPrefix followed by its id.
const PathPrefix = "/ui/assets/"

// IDOf is the id of an asset of bytes data.
func IDOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ValidID reports whether id is shaped as an asset id: 64 lower-case hex
// digits.
func ValidID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Upload admits data as kind k and stores it, returning its id.
func Upload(ctx context.Context, s Store, instanceID string, k Kind, data []byte) (string, error) {
	ct, err := Admit(k, data)
	if err != nil {
		return "", err
	}
	return s.Put(ctx, instanceID, ct, data)
}

// Migrations create the assets table.
var Migrations = []database.Migration{{
	Name: "asset/0001_assets",
	SQLite: `CREATE TABLE assets (instance_id TEXT NOT NULL, id TEXT NOT NULL, content_type TEXT NOT NULL, data BLOB NOT NULL,
	created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, id))`,
	Postgres: `CREATE TABLE assets (instance_id TEXT NOT NULL, id TEXT NOT NULL, content_type TEXT NOT NULL, data BYTEA NOT NULL,
	created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, id))`,
}}

// DBStore is the embedded Store: the assets table of Castellan's database.
type DBStore struct {
	db  *database.DB
	now func() time.Time
}

var _ Store = (*DBStore)(nil)

// NewDBStore returns the store of db, whose migrations include Migrations.
func NewDBStore(db *database.DB) *DBStore { return &DBStore{db: db, now: time.Now} }

// Put stores data; see Store.
func (s *DBStore) Put(ctx context.Context, instanceID, contentType string, data []byte) (string, error) {
	if instanceID == "" || contentType == "" || len(data) == 0 {
		return "", errors.New("asset: put needs an instance, a content type and data")
	}
	id := IDOf(data)
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO assets (instance_id, id, content_type, data, created_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (instance_id, id) DO NOTHING`, instanceID, id, contentType, data, s.now().UnixMicro())
		return err
	})
	if err != nil {
		return "", failure.Internal(err, "asset: put")
	}
	return id, nil
}

// Get returns an asset; see Store.
func (s *DBStore) Get(ctx context.Context, instanceID, id string) (Asset, error) {
	if !ValidID(id) {
		return Asset{}, failure.NotFound("no asset %q", id)
	}
	a := Asset{ID: id}
	var created int64
	err := s.db.Reader().QueryRowContext(ctx, `SELECT content_type, data, created_at FROM assets WHERE instance_id = $1 AND id = $2`,
		instanceID, id).Scan(&a.ContentType, &a.Data, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Asset{}, failure.NotFound("no asset %q", id)
	}
	if err != nil {
		return Asset{}, failure.Internal(err, "asset: get")
	}
	a.CreatedAt = time.UnixMicro(created)
	return a, nil
}
