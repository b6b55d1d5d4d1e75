package authn_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	*apitest.Env
	ctx   context.Context
	clock *clock
	// replica is a second store on the same database: its appends do not
	// reach this process's Changed channel, as another replica's would not.
	replica *eventstore.Store
	userID  string
	tokenID string
	header  http.Header
}

func start(t testing.TB) *fixture { return startOn(t, nil) }

// startOn is start on src (nil: SQLite).
func startOn(t testing.TB, src dbtest.Source) *fixture {
	none := func(*app.App, *authn.Authenticator) []api.Service { return nil }
	var env *apitest.Env
	if src == nil {
		env = apitest.Start(t, none)
	} else {
		env = apitest.StartOn(t, src, none)
	}
	replica, err := eventstore.New(env.App.DB, app.Registry(), app.Projections(), eventstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{Env: env, ctx: instance.WithContext(context.Background(), instance.Instance{ID: env.InstanceID}), clock: &clock{t: time.Now()}, replica: replica}
	f.userID, err = user.NewCommands(env.App.Store, env.App.Hasher).Create(f.ctx, eventstore.SystemEditor, env.InstanceID,
		user.New{OrgID: env.OrgID, Type: "human", LoginName: "bob", Password: "bob-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	env.GrantOrg(t, env.OrgID, f.userID, "org.user_manager")
	id, token, err := pat.NewCommands(env.App.Store, nil).Add(f.ctx, eventstore.SystemEditor, f.aggregate(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f.tokenID, f.header = id, http.Header{"Authorization": {apitest.Bearer(token)}}
	return f
}

func (f *fixture) aggregate() eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: f.InstanceID, Type: user.AggregateType, ID: f.userID, Owner: f.OrgID}
}

// may reports whether bob may write users of the first organization, and
// fails on anything but a decision.
func (f *fixture) may(t *testing.T, a *authn.Authenticator) bool {
	t.Helper()
	c, err := a.Caller(f.ctx, f.header)
	if failure.Is(err, failure.KindUnauthenticated) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.Can(authz.UserWrite, authz.Org(f.OrgID))
}

func TestCachedCallersFollowLocalChangesAtOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) { testFollowLocalChanges(t, startOn(t, src)) })
}

func testFollowLocalChanges(t *testing.T, f *fixture) {
	// An hour of staleness allowed: only the local Changed channel can
	// make these decisions change.
	a := authn.New(f.App.DB, f.clock.Now).WithCache(f.App.Store.Changed, time.Hour)
	members := member.NewCommands(f.App.Store)
	for _, step := range []struct {
		name   string
		change func() error
		want   bool
	}{
		{"ok/a user manager writes users", func() error { return nil }, true},
		{"fail/its membership removed", func() error {
			return members.RemoveOrgMember(f.ctx, eventstore.SystemEditor, f.InstanceID, f.OrgID, f.userID)
		}, false},
		{"ok/a custom role given", func() error {
			_, err := f.App.Store.Push(f.ctx, eventstore.SystemEditor, eventstore.Append{
				Aggregate: eventstore.Aggregate{InstanceID: f.InstanceID, Type: member.RoleAggregateType, ID: "custom.w"}, ExpectedSequence: eventstore.AnySequence,
				Events: []eventstore.Payload{&member.RoleDefined{Key: "custom.w", DisplayName: "W", Scope: "org", Permissions: []string{"user.write"}}}})
			if err != nil {
				return err
			}
			return members.AddOrgMember(f.ctx, eventstore.SystemEditor, f.InstanceID, f.OrgID, f.userID, []string{"custom.w"})
		}, true},
		{"fail/the custom role changed", func() error {
			_, err := f.App.Store.Push(f.ctx, eventstore.SystemEditor, eventstore.Append{
				Aggregate: eventstore.Aggregate{InstanceID: f.InstanceID, Type: member.RoleAggregateType, ID: "custom.w"}, ExpectedSequence: eventstore.AnySequence,
				Events: []eventstore.Payload{&member.RoleChanged{DisplayName: "W", Permissions: []string{"user.read"}}}})
			return err
		}, false},
		{"ok/org.owner given", func() error {
			return members.AddOrgMember(f.ctx, eventstore.SystemEditor, f.InstanceID, f.OrgID, f.userID, []string{"org.owner"})
		}, true},
		{"fail/the user locked", func() error {
			return user.NewCommands(f.App.Store, f.App.Hasher).Lock(f.ctx, eventstore.SystemEditor, f.InstanceID, f.userID)
		}, false},
		{"ok/the user unlocked", func() error {
			return user.NewCommands(f.App.Store, f.App.Hasher).Unlock(f.ctx, eventstore.SystemEditor, f.InstanceID, f.userID)
		}, true},
		{"fail/the token revoked", func() error {
			return pat.NewCommands(f.App.Store, nil).Revoke(f.ctx, eventstore.SystemEditor, f.aggregate(), f.tokenID)
		}, false},
	} {
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		for range 2 { // the first call may load, the second reads the cache
			if got := f.may(t, a); got != step.want {
				t.Fatalf("%s: may = %v, want %v", step.name, got, step.want)
			}
		}
	}
}

func TestCachedCallersFollowAnotherReplicaWithinMaxStale(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) { testFollowAnotherReplica(t, startOn(t, src)) })
}

func testFollowAnotherReplica(t *testing.T, f *fixture) {
	const maxStale = 5 * time.Second
	a := authn.New(f.App.DB, f.clock.Now).WithCache(f.App.Store.Changed, maxStale)
	strict := authn.New(f.App.DB, f.clock.Now).WithCache(f.App.Store.Changed, 0)
	if !f.may(t, a) || !f.may(t, strict) {
		t.Fatal("the user manager should write users")
	}
	if err := member.NewCommands(f.replica).RemoveOrgMember(f.ctx, eventstore.SystemEditor, f.InstanceID, f.OrgID, f.userID); err != nil {
		t.Fatal(err)
	}
	if f.may(t, strict) {
		t.Fatal("with MaxStale 0 another replica's change is seen on the next call")
	}
	if !f.may(t, a) {
		t.Fatal("within MaxStale the cached caller is used without reading the database")
	}
	f.clock.Add(maxStale)
	if f.may(t, a) {
		t.Fatal("after MaxStale another replica's change must be seen")
	}
}

func TestCachedCallerExpiresWithItsToken(t *testing.T) {
	f := start(t)
	a := authn.New(f.App.DB, f.clock.Now).WithCache(f.App.Store.Changed, 2*time.Hour)
	if !f.may(t, a) {
		t.Fatal("the user manager should write users")
	}
	f.clock.Add(time.Hour + time.Second)
	if f.may(t, a) {
		t.Fatal("a cached caller outlives its token")
	}
}

// A caller loaded before a change and stored after another request saw the
// change must not replace what that request stored.
func TestALoadRacingAChangeIsNotKept(t *testing.T) {
	f := start(t)
	a := authn.New(f.App.DB, f.clock.Now).WithCache(f.App.Store.Changed, time.Hour)
	authn.AfterLoad(a, func() {
		if err := member.NewCommands(f.App.Store).RemoveOrgMember(f.ctx, eventstore.SystemEditor, f.InstanceID, f.OrgID, f.userID); err != nil {
			t.Fatal(err)
		}
		if f.may(t, a) {
			t.Fatal("a request after the change is allowed")
		}
	})
	f.may(t, a) // loaded before the change, stored after the request above
	if f.may(t, a) {
		t.Fatal("the load that raced with the change was kept")
	}
}

// Concurrent requests while memberships change (run with -race): after the
// last change has returned, every request decides by it.
func TestCachedCallersUnderConcurrentChanges(t *testing.T) {
	f := start(t)
	a := authn.New(f.App.DB, nil).WithCache(f.App.Store.Changed, time.Hour)
	members := member.NewCommands(f.App.Store)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.Caller(f.ctx, f.header); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		roles := []string{"org.viewer"}
		if i%2 == 1 {
			roles = []string{"org.user_manager"}
		}
		if err := members.AddOrgMember(f.ctx, eventstore.SystemEditor, f.InstanceID, f.OrgID, f.userID, roles); err != nil {
			t.Fatal(err)
		}
		want := i%2 == 1
		for range 3 {
			if got := f.may(t, a); got != want {
				t.Fatalf("change %d: may = %v, want %v", i, got, want)
			}
		}
	}
	close(stop)
	wg.Wait()
}
