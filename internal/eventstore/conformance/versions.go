package conformance

import (
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// versionedThings is thingsProjection at a version of its code.
type versionedThings struct {
	*thingsProjection
	version int
}

func (p versionedThings) Version() int { return p.version }

func testRebuildOutdated(t *testing.T, h *harness) {
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "t1"), Events: []eventstore.Payload{&thingAdded{Name: "one"}}})
	stray := func() {
		t.Helper()
		if err := h.db.InTx(ctx, func(tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO things (instance_id, id, name, events, last_sequence) VALUES ('inst-1', 'stray', 'x', 0, 0)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	strayGone := func() bool {
		t.Helper()
		var n int
		if err := h.db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM things WHERE id = 'stray'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	}
	at := func(version int) []string {
		t.Helper()
		var p eventstore.Projection = &thingsProjection{}
		if version > 0 {
			p = versionedThings{&thingsProjection{}, version}
		}
		store, err := eventstore.New(h.db, newRegistry(), []eventstore.Projection{p}, eventstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := store.RebuildOutdated(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rebuilt
	}

	stray()
	if got := at(0); len(got) != 0 || strayGone() {
		t.Fatalf("an unversioned projection was rebuilt: %v", got)
	}
	if got := at(1); !slices.Equal(got, []string{"things"}) || !strayGone() {
		t.Fatalf("version 1 over rows of none: rebuilt %v", got)
	}
	stray()
	if got := at(1); len(got) != 0 || strayGone() {
		t.Fatalf("rebuilt again at the same version: %v", got)
	}
	if got := at(2); !slices.Equal(got, []string{"things"}) || !strayGone() {
		t.Fatalf("version 2: rebuilt %v", got)
	}
	// A binary of an older version leaves newer rows alone.
	stray()
	if got := at(1); len(got) != 0 || strayGone() {
		t.Fatalf("an older binary rebuilt: %v", got)
	}
	var name string
	if err := h.db.Reader().QueryRowContext(ctx, `SELECT name FROM things WHERE id = 't1'`).Scan(&name); err != nil || name != "one" {
		t.Fatalf("rebuilt row: %q %v", name, err)
	}
}

func testNewDatabaseStartsAtTheCodeVersion(t *testing.T, h *harness) {
	store, err := eventstore.New(h.db, newRegistry(), []eventstore.Projection{versionedThings{&thingsProjection{}, 3}}, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.RebuildOutdated(ctx); err != nil || len(got) != 0 {
		t.Fatalf("a new database rebuilt %v: %v", got, err)
	}
	push(t, store, alice, eventstore.Append{Aggregate: thing("inst-1", "t1"), Events: []eventstore.Payload{&thingAdded{Name: "one"}}})
	if got, err := store.RebuildOutdated(ctx); err != nil || len(got) != 0 {
		t.Fatalf("rebuilt at the version a new database started with: %v %v", got, err)
	}
}
