package org

import (
	"context"
	"fmt"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// AggregateType is the event store aggregate type of organizations.
const AggregateType = "org"

// Added is the first event of an organization.
type Added struct {
	Name string `json:"name"`
}

func (Added) EventType() string { return "org.added" }

// RegisterEvents adds the organization events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
}

// Create returns the append that creates organization id in an instance.
func Create(instanceID, id, name string) (eventstore.Append, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return eventstore.Append{}, failure.InvalidArgument("name", "an organization name has 1 to 200 characters")
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: id, Owner: id},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&Added{Name: name}},
		Unique:           []eventstore.Unique{{Kind: "org_name", Value: name, Field: "name", FoldCase: true}},
	}, nil
}

// Migrations create the organization read model.
var Migrations = []database.Migration{{
	Name:     "org/0001_orgs",
	SQLite:   `CREATE TABLE orgs (instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, sequence INTEGER NOT NULL, PRIMARY KEY (instance_id, id))`,
	Postgres: `CREATE TABLE orgs (instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, sequence BIGINT NOT NULL, PRIMARY KEY (instance_id, id))`,
}}

// Projection keeps the orgs table.
type Projection struct{}

func (Projection) Name() string         { return "orgs" }
func (Projection) EventTypes() []string { return []string{"org.added"} }

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM orgs`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	switch p := e.Payload.(type) {
	case *Added:
		_, err := tx.ExecContext(ctx, `INSERT INTO orgs (instance_id, id, name, state, created_at, sequence) VALUES ($1, $2, $3, 'active', $4, $5)`,
			e.Aggregate.InstanceID, e.Aggregate.ID, p.Name, e.CreatedAt.UnixMicro(), e.Sequence)
		return err
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}
