package conformance

import (
	"context"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// reclaimingThings is thingsProjection claiming thing names anew, in upper
// case, from its rows at the end of a rebuild: a claimed form that changed.
type reclaimingThings struct{ *thingsProjection }

func (p reclaimingThings) FinishRebuild(ctx context.Context, tx *database.Tx) error {
	return eventstore.ReplaceUnique(ctx, tx, "thing_name", `SELECT instance_id, '' AS scope, upper(name) AS value FROM things`)
}

func testReclaimOnRebuild(t *testing.T, h *harness) {
	claim := func(s *eventstore.Store, inst, id, value string, fold bool) error {
		_, err := s.Push(ctx, alice, eventstore.Append{
			Aggregate: thing(inst, id), Events: []eventstore.Payload{&thingAdded{Name: value}},
			Unique: []eventstore.Unique{{Kind: "thing_name", Value: value, Field: "name", FoldCase: fold}},
		})
		return err
	}
	for _, c := range []struct{ inst, id, name string }{{"inst-1", "t1", "Alpha"}, {"inst-2", "t1", "alpha"}, {"inst-1", "t2", "beta"}} {
		if err := claim(h.store, c.inst, c.id, c.name, true); err != nil {
			t.Fatal(err)
		}
	}
	push(t, h.store, alice, eventstore.Append{Aggregate: thing("inst-1", "d1"), Events: []eventstore.Payload{&thingAdded{Name: "d1"}},
		Unique: []eventstore.Unique{{Kind: "domain", Value: "example.com", Global: true}}})
	store, err := eventstore.New(h.db, newRegistry(), []eventstore.Projection{reclaimingThings{&thingsProjection{}}}, eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Rebuild(ctx, "things"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		inst, value string
		taken       bool
	}{{"inst-1", "ALPHA", true}, {"inst-2", "ALPHA", true}, {"inst-1", "BETA", true}, {"inst-2", "BETA", false}, {"inst-1", "alpha", false}} {
		err := claim(store, c.inst, "probe-"+c.value, c.value, false)
		if c.taken != failure.Is(err, failure.KindAlreadyExists) || (!c.taken && err != nil) {
			t.Fatalf("claiming %s in %s after the rebuild: %v, want taken=%v", c.value, c.inst, err, c.taken)
		}
	}
	// Claims of other kinds stay.
	_, err = store.Push(ctx, alice, eventstore.Append{Aggregate: thing("inst-2", "d2"), Events: []eventstore.Payload{&thingAdded{Name: "d2"}},
		Unique: []eventstore.Unique{{Kind: "domain", Value: "example.com", Global: true}}})
	if !failure.Is(err, failure.KindAlreadyExists) {
		t.Fatalf("a domain claim was lost in the rebuild: %v", err)
	}
}
