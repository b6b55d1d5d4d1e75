package database

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// scrubTimeout bounds one scrub: it runs apart from any request, so that a
// caller that gives up does not cancel it for the others waiting on it.
const scrubTimeout = time.Minute

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ScrubDeleted makes rows deleted from tables unreadable in the database's
// files, as far as the backend allows; package user calls it after erasing
// a user's personal data, once the erasure has committed.
//
// On SQLite, secure_delete (on for every connection) overwrites deleted
// rows with zeros in their pages; but the write-ahead log still holds the
// earlier images of those pages until they are checkpointed. ScrubDeleted
// checkpoints the whole log into the database file and truncates it to
// zero bytes (PRAGMA wal_checkpoint(TRUNCATE)); it fails if a reader kept
// the checkpoint from completing within the busy timeout.
//
// On PostgreSQL it runs VACUUM on tables, which removes the dead row
// versions from the tables and their indexes and makes the space reusable.
// VACUUM does not overwrite that space, and WAL segments and backups keep
// their copies until recycled: see docs/architecture.md, "Personal data".
//
// A scrub takes a while and covers every deletion committed before it
// starts, so calls that arrive while one runs wait for the next and share
// it. The error is for the caller to log: the deletion itself stands.
func (db *DB) ScrubDeleted(ctx context.Context, tables ...string) error {
	for _, t := range tables {
		if !tableName.MatchString(t) {
			return fmt.Errorf("database: scrub: %q is not a table name", t)
		}
	}
	return db.scrubs.do(ctx, tables, db.scrub)
}

func (db *DB) scrub(ctx context.Context, tables []string) error {
	switch db.Dialect {
	case SQLite:
		var busy, logFrames, checkpointed int
		if err := db.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed); err != nil {
			return fmt.Errorf("database: checkpoint: %w", err)
		}
		if busy != 0 {
			return errors.New("database: checkpoint: readers kept the write-ahead log from being truncated")
		}
		return nil
	case Postgres:
		if len(tables) == 0 {
			return nil
		}
		// VACUUM cannot run in a transaction; one statement covers all
		// tables. The names were checked against tableName.
		if _, err := db.write.ExecContext(ctx, `VACUUM `+strings.Join(tables, ", ")); err != nil {
			return fmt.Errorf("database: vacuum %s: %w", strings.Join(tables, ", "), err)
		}
		return nil
	}
	return fmt.Errorf("database: scrub: unknown dialect %q", db.Dialect)
}

// scrubber runs one scrub at a time. Callers that arrive while a scrub
// runs join the next one, which starts when the current one ends and
// covers the tables of all of them.
type scrubber struct {
	mu      sync.Mutex
	running bool
	next    *scrubRun
}

type scrubRun struct {
	tables []string
	done   chan struct{}
	err    error
}

func (s *scrubber) do(ctx context.Context, tables []string, scrub func(context.Context, []string) error) error {
	s.mu.Lock()
	r := s.next
	if r == nil {
		r = &scrubRun{done: make(chan struct{})}
		s.next = r
	}
	for _, t := range tables {
		if !slices.Contains(r.tables, t) {
			r.tables = append(r.tables, t)
		}
	}
	if !s.running {
		s.running = true
		go s.loop(scrub)
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *scrubber) loop(scrub func(context.Context, []string) error) {
	for {
		s.mu.Lock()
		r := s.next
		s.next = nil
		if r == nil {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), scrubTimeout)
		r.err = scrub(ctx, r.tables)
		cancel()
		close(r.done)
	}
}
