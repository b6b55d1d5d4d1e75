package credential

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
)

var ctx = context.Background()

// userAdded stands for package user's creation event (which this package
// cannot import): the user's aggregate begins with it.
type userAdded struct{}

func (userAdded) EventType() string { return "test.user.added" }

// unlocked stands for package user's Unlocked, an AttemptsResetter.
type unlocked struct{}

func (unlocked) EventType() string       { return "test.user.unlocked" }
func (unlocked) ResetsPasswordAttempts() {}

// clock is a settable clock shared by the commands and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is a fresh store with one user, the credential commands on it
// and a key ring.
type fixture struct {
	store *eventstore.Store
	db    dbtest.Source
	cmds  *Commands
	clock *clock
	keys  *keyring.Ring
	user  eventstore.Aggregate
	mark  eventstore.Position
}

// each runs fn with a fresh fixture on SQLite and on PostgreSQL, under pol.
func each(t *testing.T, pol Policy, fn func(t *testing.T, f *fixture)) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) { fn(t, newFixture(t, src, pol)) })
}

func newFixture(t *testing.T, src dbtest.Source, pol Policy) *fixture {
	t.Helper()
	db := src.Open(t, eventstore.Migrations)
	r := eventstore.NewRegistry()
	RegisterEvents(r)
	eventstore.Register[userAdded](r, 1)
	eventstore.Register[unlocked](r, 1)
	clk := &clock{t: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
	store, err := eventstore.New(db, r, nil, eventstore.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyring.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, db: src, clock: clk, keys: keys,
		cmds: NewCommands(store, nil).WithPolicy(FixedPolicy(pol)).WithClock(clk.now),
		user: eventstore.Aggregate{InstanceID: "inst-1", Type: "user", ID: "u1", Owner: "o1"}}
	f.push(t, &userAdded{})
	return f
}

// push appends events to the user, as another package would.
func (f *fixture) push(t *testing.T, events ...eventstore.Payload) {
	t.Helper()
	if _, err := f.store.Push(ctx, eventstore.SystemEditor, eventstore.Append{Aggregate: f.user, ExpectedSequence: eventstore.AnySequence, Events: events}); err != nil {
		t.Fatal(err)
	}
	f.given(t)
}

// given marks the end of the history; then reads what came after.
func (f *fixture) given(t *testing.T) {
	t.Helper()
	events := f.events(t, eventstore.Position{})
	if len(events) > 0 {
		f.mark = events[len(events)-1].Position
	}
}

func (f *fixture) events(t *testing.T, after eventstore.Position) []eventstore.Event {
	t.Helper()
	events, err := f.store.Query(ctx, eventstore.Filter{InstanceID: f.user.InstanceID, After: after})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// then checks that exactly want were appended since given, comparing
// payloads by their JSON, and marks the new end.
func (f *fixture) then(t *testing.T, want ...eventstore.Payload) {
	t.Helper()
	var got, exp []string
	for _, e := range f.events(t, f.mark) {
		got = append(got, describe(e.Payload))
	}
	for _, p := range want {
		exp = append(exp, describe(p))
	}
	if !slices.Equal(got, exp) {
		t.Fatalf("appended events differ\n got: %v\nwant: %v", got, exp)
	}
	f.given(t)
}

// appended returns the events appended since given and marks the new end.
func (f *fixture) appended(t *testing.T) []eventstore.Event {
	t.Helper()
	events := f.events(t, f.mark)
	f.given(t)
	return events
}

func describe(p eventstore.Payload) string {
	b, _ := json.Marshal(p)
	return p.EventType() + string(b)
}

func wantKind(t *testing.T, err error, kind failure.Kind) *failure.Error {
	t.Helper()
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Kind != kind {
		t.Fatalf("got %v, want %s", err, kind)
	}
	return fe
}

// wantWrongCode checks the one answer of a failed sign-in check.
func wantWrongCode(t *testing.T, err error) {
	t.Helper()
	if fe := wantKind(t, err, failure.KindUnauthenticated); fe.Message != "the code is wrong" {
		t.Fatalf("message %q reveals more than it should", fe.Message)
	}
}
