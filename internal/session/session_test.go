package session_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

var ctx = context.Background()

// clock is a settable time shared by the store and the commands.
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

type fixture struct {
	store    *eventstore.Store
	clock    *clock
	instance string
	org      string
	admin    string
	alice    string
	creds    *credential.Commands
}

const alicePassword = "a good password 1"

func newFixture(t *testing.T, src dbtest.Source) *fixture {
	clk := &clock{t: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)}
	store, err := eventstore.New(src.Open(t, app.Migrations()), app.Registry(), app.Projections(), eventstore.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	s := struct{ Store *eventstore.Store }{store}
	hasher := password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 2)
	first, err := setup.Run(ctx, s.Store, hasher, setup.FirstInstance{Name: "Test", Domain: "localhost", OrgName: "First", AdminLoginName: "admin", AdminPassword: "admin-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	users := user.NewCommands(s.Store, hasher).WithClock(clk.now)
	alice, err := users.Create(ctx, eventstore.SystemEditor, first.InstanceID, user.New{OrgID: first.OrgID, Type: "human", LoginName: "alice", Password: alicePassword})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: s.Store, clock: clk, instance: first.InstanceID, org: first.OrgID, admin: first.AdminID, alice: alice, creds: users.Credentials().WithClock(clk.now)}
}

func (f *fixture) commands(sett settings.Settings, secondFactors ...session.Factor) *session.Commands {
	return session.NewCommands(session.Deps{
		Store: f.store, Credentials: f.creds,
		Settings: func(context.Context, string, string) (settings.Settings, error) { return sett, nil },
		UserFacts: func(context.Context, eventstore.Aggregate, []eventstore.Event) (session.Facts, error) {
			return session.Facts{SecondFactors: secondFactors}, nil
		},
	}).WithClock(f.clock.now)
}

func checks(login, pw string) session.Checks {
	return session.Checks{User: &session.UserCheck{LoginName: login}, Password: &pw}
}

func TestLifetimeAndIdleTimeout(t *testing.T) { dbtest.Each(t, testLifetimeAndIdleTimeout) }

func testLifetimeAndIdleTimeout(t *testing.T, src dbtest.Source) {
	f := newFixture(t, src)
	sett := settings.BuiltIn()
	sett.Session = settings.Session{Lifetime: 24 * time.Hour, IdleTimeout: 12 * time.Hour}
	c := f.commands(sett)
	pw := alicePassword

	s, token, _, err := c.Create(ctx, f.instance, session.Client{}, checks("alice", pw), session.Challenges{})
	if err != nil || !s.Status.Authenticated {
		t.Fatalf("create: %+v %v", s, err)
	}
	if want := f.clock.now().Add(12 * time.Hour); !s.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v (idle)", s.ExpiresAt, want)
	}
	// A check within the idle timeout keeps the session alive past it.
	f.clock.advance(11 * time.Hour)
	if _, _, err := c.Update(ctx, f.instance, s.ID, token, session.Client{}, session.Checks{Password: &pw}, session.Challenges{}); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(11 * time.Hour)
	if _, err := c.Get(ctx, f.instance, s.ID, token); err != nil {
		t.Fatalf("22 h after creation, 11 h after the last check: %v", err)
	}
	// The lifetime ends it whatever the activity.
	if _, _, err := c.Update(ctx, f.instance, s.ID, token, session.Client{}, session.Checks{Password: &pw}, session.Challenges{}); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(2*time.Hour + time.Second)
	if _, err := c.Get(ctx, f.instance, s.ID, token); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("after the lifetime: %v", err)
	}
	list, err := session.List(ctx, f.store.DB(), f.instance, f.alice, f.clock.now())
	if err != nil || len(list) != 0 {
		t.Fatalf("an expired session is listed: %v %v", list, err)
	}

	// Idle for longer than the timeout: ended.
	s, token, _, err = c.Create(ctx, f.instance, session.Client{}, checks("alice", pw), session.Challenges{})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.advance(12*time.Hour + time.Second)
	if _, _, err := c.Update(ctx, f.instance, s.ID, token, session.Client{}, session.Checks{Password: &pw}, session.Challenges{}); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatalf("after the idle timeout: %v", err)
	}
}

func TestStatusFollowsTheLoginSettings(t *testing.T) {
	dbtest.Each(t, testStatusFollowsTheLoginSettings)
}

func testStatusFollowsTheLoginSettings(t *testing.T, src dbtest.Source) {
	f := newFixture(t, src)
	pw := alicePassword
	for _, tc := range []struct {
		name          string
		mfa           settings.MFARequirement
		login         string
		secondFactors []session.Factor
		authenticated bool
		next          []string
	}{
		{"no MFA", settings.MFANever, "alice", nil, true, nil},
		{"MFA for everyone, none registered", settings.MFAEveryone, "alice", nil, false, []string{session.NextRegisterSecondFactor}},
		{"MFA for everyone, TOTP registered", settings.MFAEveryone, "alice", []session.Factor{session.FactorTOTP}, false, []string{"totp"}},
		{"a registered second factor is asked for", settings.MFANever, "alice", []session.Factor{session.FactorTOTP, session.FactorWebAuthn}, false, []string{"totp", "webauthn"}},
		{"MFA for administrators: a user", settings.MFAAdministrators, "alice", nil, true, nil},
		{"MFA for administrators: an administrator", settings.MFAAdministrators, "admin", nil, false, []string{session.NextRegisterSecondFactor}},
		{"a password older than the maximum age", settings.MFANever, "expired", nil, false, []string{session.NextChangePassword}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sett := settings.BuiltIn()
			sett.Login.MFARequired = tc.mfa
			p, login := pw, tc.login
			if tc.login == "admin" {
				p = "admin-password-1"
			}
			c := f.commands(sett, tc.secondFactors...)
			if tc.login == "expired" {
				login, sett.Password.MaxAge = "alice", 30*24*time.Hour
				c = session.NewCommands(session.Deps{Store: f.store, Credentials: f.creds,
					Settings: func(context.Context, string, string) (settings.Settings, error) { return sett, nil },
					UserFacts: func(context.Context, eventstore.Aggregate, []eventstore.Event) (session.Facts, error) {
						return session.Facts{PasswordSetAt: f.clock.now().Add(-31 * 24 * time.Hour)}, nil
					},
				}).WithClock(f.clock.now)
			}
			s, _, _, err := c.Create(ctx, f.instance, session.Client{}, checks(login, p), session.Challenges{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Status.Authenticated != tc.authenticated || !slices.Equal(s.Status.Next, tc.next) {
				t.Fatalf("status %+v, want authenticated %v next %v", s.Status, tc.authenticated, tc.next)
			}
		})
	}

	// A password check counts for its lifetime only.
	sett := settings.BuiltIn()
	sett.Login.PasswordCheckLifetime = time.Hour
	c := f.commands(sett)
	s, token, _, err := c.Create(ctx, f.instance, session.Client{}, checks("alice", pw), session.Challenges{})
	if err != nil || !s.Status.Authenticated {
		t.Fatal(s, err)
	}
	f.clock.advance(time.Hour + time.Second)
	s, err = c.Get(ctx, f.instance, s.ID, token)
	if err != nil || s.Status.Authenticated || !slices.Contains(s.Status.Next, "password") || s.UserID != "" {
		t.Fatalf("after the password check's lifetime: %+v %v", s, err)
	}
}

// A failed check is recorded with the client, and a session whose user
// is proven cannot be switched to another user.
func TestFailuresAreRecordedAndUsersStay(t *testing.T) {
	dbtest.Each(t, testFailuresAreRecordedAndUsersStay)
}

func testFailuresAreRecordedAndUsersStay(t *testing.T, src dbtest.Source) {
	f := newFixture(t, src)
	c := f.commands(settings.BuiltIn())
	client := session.Client{Address: "203.0.113.7", UserAgent: "test-agent"}
	if _, _, _, err := c.Create(ctx, f.instance, client, checks("alice", "wrong password"), session.Challenges{}); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatal(err)
	}
	events, err := f.store.Query(ctx, eventstore.Filter{InstanceID: f.instance, AggregateTypes: []string{session.AggregateType}})
	if err != nil {
		t.Fatal(err)
	}
	var failed *session.CheckFailed
	for _, e := range events {
		if p, ok := e.Payload.(*session.CheckFailed); ok {
			failed = p
		}
	}
	if failed == nil || failed.Factor != session.FactorPassword || failed.Client != client {
		t.Fatalf("no failure recorded with the client: %+v", events)
	}

	pw := alicePassword
	s, token, _, err := c.Create(ctx, f.instance, client, checks("alice", pw), session.Challenges{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Update(ctx, f.instance, s.ID, token, client, session.Checks{User: &session.UserCheck{LoginName: "admin"}}, session.Challenges{}); !failure.Is(err, failure.KindFailedPrecondition) {
		t.Fatalf("switching a proven session to another user: %v", err)
	}
}

// A sign-in's user facts fold the user's events its password check read,
// not a second read of them — unless the check recorded something on the
// user (a success that ends a run of failures), which those events lack.
func TestFactsFoldWhatThePasswordCheckRead(t *testing.T) {
	dbtest.Each(t, testFactsFoldWhatThePasswordCheckRead)
}

func testFactsFoldWhatThePasswordCheckRead(t *testing.T, src dbtest.Source) {
	f := newFixture(t, src)
	var given [][]eventstore.Event // what each UserFacts call was handed
	c := session.NewCommands(session.Deps{
		Store: f.store, Credentials: f.creds,
		Settings: func(context.Context, string, string) (settings.Settings, error) { return settings.BuiltIn(), nil },
		UserFacts: func(_ context.Context, _ eventstore.Aggregate, events []eventstore.Event) (session.Facts, error) {
			given = append(given, events)
			return session.Facts{}, nil
		},
	}).WithClock(f.clock.now)
	signIn := func(pw string) (session.Session, string) {
		t.Helper()
		given = nil
		s, token, _, err := c.Create(ctx, f.instance, session.Client{}, checks("alice", pw), session.Challenges{})
		if err != nil {
			t.Fatal(err)
		}
		return s, token
	}

	s, token := signIn(alicePassword)
	if len(given) != 1 || len(given[0]) == 0 || given[0][0].Aggregate.ID != f.alice {
		t.Fatalf("facts of a sign-in were handed %d reads, want alice's events once: %v", len(given), given)
	}
	// A session read later has no check to take them from.
	given = nil
	if _, err := c.Get(ctx, f.instance, s.ID, token); err != nil || len(given) != 1 || given[0] != nil {
		t.Fatalf("facts of a read session were handed %v (%v), want a read of their own", given, err)
	}
	// A wrong password, then the right one: the success is recorded on the
	// user, so the facts read the user again.
	if _, _, _, err := c.Create(ctx, f.instance, session.Client{}, checks("alice", "wrong password"), session.Challenges{}); !failure.Is(err, failure.KindUnauthenticated) {
		t.Fatal(err)
	}
	signIn(alicePassword)
	if len(given) != 1 || given[0] != nil {
		t.Fatalf("facts after a recorded success were handed %v, want a read of their own", given)
	}
}

// Sweep deletes the rows of sessions a day after they expired, and leaves
// live ones and their events.
func TestSweepDeletesLongExpiredSessions(t *testing.T) {
	dbtest.Each(t, testSweepDeletesLongExpiredSessions)
}

func testSweepDeletesLongExpiredSessions(t *testing.T, src dbtest.Source) {
	f := newFixture(t, src)
	sett := settings.BuiltIn()
	sett.Session = settings.Session{Lifetime: time.Hour, IdleTimeout: time.Hour}
	c := f.commands(sett)
	old, _, _, err := c.Create(ctx, f.instance, session.Client{}, checks("alice", alicePassword), session.Challenges{})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.advance(26 * time.Hour)
	live, _, _, err := c.Create(ctx, f.instance, session.Client{}, checks("alice", alicePassword), session.Challenges{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := session.Sweep(ctx, f.store.DB(), f.clock.now())
	if err != nil || n != 1 {
		t.Fatalf("swept %d: %v", n, err)
	}
	list, err := session.List(ctx, f.store.DB(), f.instance, f.alice, f.clock.now())
	if err != nil || len(list) != 1 || list[0].ID != live.ID {
		t.Fatalf("after the sweep: %+v %v", list, err)
	}
	events, err := f.store.Query(ctx, eventstore.Filter{InstanceID: f.instance, AggregateTypes: []string{session.AggregateType}, AggregateIDs: []string{old.ID}})
	if err != nil || len(events) == 0 {
		t.Fatalf("the swept session's events: %d %v", len(events), err)
	}
}
