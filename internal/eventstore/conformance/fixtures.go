package conformance

import (
	"context"
	"errors"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// The suite's own events.
type thingAdded struct {
	Name string `json:"name"`
}

func (thingAdded) EventType() string { return "thing.added" }

type thingRenamed struct {
	Name string `json:"name"`
}

func (thingRenamed) EventType() string { return "thing.renamed" }

type thingTicked struct {
	N int `json:"n"`
}

func (thingTicked) EventType() string { return "thing.ticked" }

func newRegistry() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[thingAdded](r, 1)
	eventstore.Register[thingRenamed](r, 1)
	eventstore.Register[thingTicked](r, 1)
	return r
}

// thingsProjection keeps one row per thing: its name and how many events it
// has seen. When failOn is a name, Reduce fails for it; when gate is set,
// Reduce of a thing named "slow" waits for it.
type thingsProjection struct {
	failOn  string
	reached chan struct{}
	gate    chan struct{}
}

var thingsMigration = database.Migration{
	Name:     "conformance/0001_things",
	SQLite:   `CREATE TABLE things (instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, events INTEGER NOT NULL, last_sequence INTEGER NOT NULL, PRIMARY KEY (instance_id, id))`,
	Postgres: `CREATE TABLE things (instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, events BIGINT NOT NULL, last_sequence BIGINT NOT NULL, PRIMARY KEY (instance_id, id))`,
}

func (p *thingsProjection) Name() string { return "things" }

func (p *thingsProjection) EventTypes() []string {
	return []string{"thing.added", "thing.renamed", "thing.ticked"}
}

func (p *thingsProjection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM things`)
	return err
}

func (p *thingsProjection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	switch pl := e.Payload.(type) {
	case *thingAdded:
		if pl.Name == p.failOn && p.failOn != "" {
			return errors.New("projection refuses " + pl.Name)
		}
		if pl.Name == "slow" && p.gate != nil {
			close(p.reached)
			<-p.gate
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO things (instance_id, id, name, events, last_sequence) VALUES ($1, $2, $3, 1, $4)`,
			e.Aggregate.InstanceID, e.Aggregate.ID, pl.Name, e.Sequence)
		return err
	case *thingRenamed:
		_, err := tx.ExecContext(ctx, `UPDATE things SET name = $1, events = events + 1, last_sequence = $2 WHERE instance_id = $3 AND id = $4`,
			pl.Name, e.Sequence, e.Aggregate.InstanceID, e.Aggregate.ID)
		return err
	case *thingTicked:
		res, err := tx.ExecContext(ctx, `UPDATE things SET events = events + 1, last_sequence = $1 WHERE instance_id = $2 AND id = $3 AND last_sequence = $4`,
			e.Sequence, e.Aggregate.InstanceID, e.Aggregate.ID, e.Sequence-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("tick %d of %s applied out of order", e.Sequence, e.Aggregate.ID)
		}
		return nil
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}

func thing(instance, id string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instance, Type: "thing", ID: id, Owner: "org-1"}
}

func dumpThings(t tb, db *database.DB) []string {
	rows, err := db.Reader().Query(`SELECT instance_id, id, name, events, last_sequence FROM things ORDER BY instance_id, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var inst, id, name string
		var n, seq int64
		if err := rows.Scan(&inst, &id, &name, &n, &seq); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%s name=%s events=%d seq=%d", inst, id, name, n, seq))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type tb interface {
	Fatal(args ...any)
	Helper()
}
