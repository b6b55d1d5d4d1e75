// Package eventstoretest writes command tests as Given/When/Then: given
// these events in the store, when this command runs, then exactly these
// events were appended. It runs on a fresh SQLite store; the event store's
// own behaviour on every backend is the conformance suite's job.
package eventstoretest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Store is a fresh store with a record of where the Given events end.
type Store struct {
	*eventstore.Store
	instanceID string
	mark       eventstore.Position
}

// New returns a fresh SQLite store with the given event types, migrations
// and projections, for events of one instance.
func New(t testing.TB, instanceID string, register func(*eventstore.Registry), migrations []database.Migration, projections ...eventstore.Projection) *Store {
	t.Helper()
	return NewWithOptions(t, instanceID, register, migrations, eventstore.Options{}, projections...)
}

// NewWithOptions is New with store options (a Sealer, a clock).
func NewWithOptions(t testing.TB, instanceID string, register func(*eventstore.Registry), migrations []database.Migration, opts eventstore.Options, projections ...eventstore.Projection) *Store {
	t.Helper()
	src := dbtest.Backends()[0].New(t)
	db := src.Open(t, append(slices.Clone(eventstore.Migrations), migrations...))
	r := eventstore.NewRegistry()
	register(r)
	s, err := eventstore.New(db, r, projections, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &Store{Store: s, instanceID: instanceID}
}

// Given appends events as history, then marks the end of the history.
func (s *Store) Given(t testing.TB, appends ...eventstore.Append) {
	t.Helper()
	if len(appends) > 0 {
		if _, err := s.Push(context.Background(), eventstore.SystemEditor, appends...); err != nil {
			t.Fatalf("given: %v", err)
		}
	}
	events, err := s.Query(context.Background(), eventstore.Filter{InstanceID: s.instanceID})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) > 0 {
		s.mark = events[len(events)-1].Position
	}
}

// Then checks that exactly want were appended since Given, in order.
// Payloads compare by their JSON.
func (s *Store) Then(t testing.TB, want ...eventstore.Payload) {
	t.Helper()
	events, err := s.Query(context.Background(), eventstore.Filter{InstanceID: s.instanceID, After: s.mark})
	if err != nil {
		t.Fatal(err)
	}
	var got, exp []string
	for _, e := range events {
		got = append(got, describe(e.Payload))
	}
	for _, p := range want {
		exp = append(exp, describe(p))
	}
	if !slices.Equal(got, exp) {
		t.Fatalf("appended events differ\n got: %v\nwant: %v", got, exp)
	}
}

func describe(p eventstore.Payload) string {
	b, _ := json.Marshal(p)
	return p.EventType() + string(b)
}
