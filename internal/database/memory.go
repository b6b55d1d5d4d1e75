package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// OpenSQLiteMemory opens a private in-memory SQLite database, for scratch
// work that must not reach the disk — history replays users' personal data
// into one. A single connection serves reads and writes (an in-memory
// database lives in its connection), so a read must not wait inside a
// transaction. image, when not nil, is its initial content: what Serialize
// returned of another such database.
func OpenSQLiteMemory(ctx context.Context, image []byte) (*DB, error) {
	pool, err := sql.Open("sqlite", "file::memory:?_pragma=foreign_keys(ON)")
	if err != nil {
		return nil, fmt.Errorf("database: open in memory: %w", err)
	}
	pool.SetMaxOpenConns(1)
	pool.SetMaxIdleConns(1)
	pool.SetConnMaxIdleTime(0)
	pool.SetConnMaxLifetime(0)
	db := &DB{Dialect: SQLite, write: pool, read: pool, indexed: pool}
	if image == nil {
		return db, nil
	}
	if err := db.raw(ctx, func(c any) error {
		d, ok := c.(interface{ Deserialize([]byte) error })
		if !ok {
			return errors.New("the SQLite driver cannot load a database image")
		}
		return d.Deserialize(image)
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: load image: %w", err)
	}
	return db, nil
}

// Serialize returns the content of a database opened by OpenSQLiteMemory,
// for OpenSQLiteMemory to start another from.
func (db *DB) Serialize(ctx context.Context) ([]byte, error) {
	var image []byte
	err := db.raw(ctx, func(c any) error {
		s, ok := c.(interface{ Serialize() ([]byte, error) })
		if !ok {
			return errors.New("the SQLite driver cannot serialize a database")
		}
		var err error
		image, err = s.Serialize()
		return err
	})
	return image, err
}

func (db *DB) raw(ctx context.Context, fn func(any) error) error {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(fn)
}
