package grants

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

var ctx = context.Background()

const inst = "inst-a"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	grants *Grants
	store  *eventstore.Store
	clock  *clock
	mark   eventstore.Position
}

func newFixture(t testing.TB, src dbtest.Source) *fixture {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	db := src.Open(t, slices.Concat(eventstore.Migrations, Migrations))
	r := eventstore.NewRegistry()
	RegisterEvents(r)
	store, err := eventstore.New(db, r, []eventstore.Projection{Projection{}}, eventstore.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{grants: New(store, c.now), store: store, clock: c}
}

const (
	lifetime = 30 * 24 * time.Hour
	idle     = 24 * time.Hour
)

var editor = eventstore.Editor{UserID: "user-1", ClientID: "client-1"}

func spec(session string, refresh bool) Spec {
	return Spec{
		Grant: Grant{ID: NewID(), InstanceID: inst, ClientID: "client-1", UserID: "user-1", OrgID: "org-1", SessionID: session,
			Scopes: []string{"openid", "offline_access"}, AuthTime: time.Date(2026, 12, 1, 11, 59, 0, 0, time.UTC), AMR: []string{"pwd"},
			Resources: []string{"https://api.example/"}},
		AuthRequestID: "req-1", AccessTokenID: "at-1", Refresh: refresh, Lifetime: lifetime, Idle: idle,
	}
}

func (f *fixture) issue(t *testing.T, s Spec) string {
	t.Helper()
	tok, err := f.grants.Issue(ctx, editor, s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// given marks the end of the events so far.
func (f *fixture) given(t *testing.T) {
	t.Helper()
	events, err := f.store.Query(ctx, eventstore.Filter{InstanceID: inst})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) > 0 {
		f.mark = events[len(events)-1].Position
	}
}

// then returns the events appended since given.
func (f *fixture) then(t *testing.T) []*eventstore.Event {
	t.Helper()
	events, err := f.store.Query(ctx, eventstore.Filter{InstanceID: inst, After: f.mark})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*eventstore.Event, len(events))
	for i := range events {
		out[i] = &events[i]
	}
	return out
}

func (f *fixture) revoked(t *testing.T, grantID string) bool {
	t.Helper()
	_, revoked, err := f.grants.Get(ctx, inst, grantID)
	if err != nil {
		t.Fatal(err)
	}
	return revoked
}

func TestIssue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := newFixture(t, src)

		t.Run("ok/without a refresh token", func(t *testing.T) {
			s := spec("sess-1", false)
			if tok := f.issue(t, s); tok != "" {
				t.Fatalf("token %q; want none", tok)
			}
			g, revoked, err := f.grants.Get(ctx, inst, s.ID)
			if err != nil || revoked {
				t.Fatalf("Get = %v, %v", revoked, err)
			}
			if g.ClientID != "client-1" || g.UserID != "user-1" || g.OrgID != "org-1" || g.SessionID != "sess-1" || !slices.Equal(g.Scopes, s.Scopes) ||
				!g.AuthTime.Equal(s.AuthTime) || !slices.Equal(g.AMR, s.AMR) || !g.ExpiresAt.Equal(f.clock.now().Add(lifetime)) ||
				!slices.Equal(g.Resources, s.Resources) {
				t.Fatalf("grant %+v", g)
			}
		})
		t.Run("ok/with a refresh token, stored as its hash only", func(t *testing.T) {
			s := spec("sess-1", true)
			f.given(t)
			tok := f.issue(t, s)
			if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 {
				t.Fatalf("token %q", tok)
			}
			events := f.then(t)
			if len(events) != 1 {
				t.Fatalf("%d events", len(events))
			}
			ev, ok := events[0].Payload.(*Issued)
			if !ok || ev.RefreshTokenHash != hashToken(tok) || !ev.RefreshExpiresAt.Equal(f.clock.now().Add(idle)) ||
				events[0].Aggregate.ID != s.ID || events[0].Aggregate.Owner != "org-1" || events[0].Aggregate.Type != AggregateType {
				t.Fatalf("event %+v: %+v", events[0], events[0].Payload)
			}
			if raw, _ := json.Marshal(ev); strings.Contains(string(raw), tok[len(TokenPrefix):]) {
				t.Fatalf("the event holds the refresh token: %s", raw)
			}
			g, exp, err := f.grants.ByRefreshToken(ctx, inst, tok)
			if err != nil || g.ID != s.ID || !exp.Equal(f.clock.now().Add(idle)) {
				t.Fatalf("ByRefreshToken = %+v, %v, %v", g, exp, err)
			}
		})
		t.Run("ok/the first token never outlives the grant", func(t *testing.T) {
			s := spec("sess-1", true)
			s.Lifetime = time.Hour
			tok := f.issue(t, s)
			if _, exp, err := f.grants.ByRefreshToken(ctx, inst, tok); err != nil || !exp.Equal(f.clock.now().Add(time.Hour)) {
				t.Fatalf("ByRefreshToken = %v, %v", exp, err)
			}
		})
		t.Run("fail/issuing a grant id twice", func(t *testing.T) {
			s := spec("sess-1", false)
			f.issue(t, s)
			if _, err := f.grants.Issue(ctx, editor, s); err == nil {
				t.Fatal("the same grant was issued twice")
			}
		})
	})
}

func TestRefresh(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := newFixture(t, src)

		t.Run("ok/refresh rotates", func(t *testing.T) {
			s := spec("sess-1", true)
			first := f.issue(t, s)
			f.given(t)
			f.clock.add(time.Hour)
			g, second, err := f.grants.Refresh(ctx, inst, "client-1", first, idle)
			if err != nil {
				t.Fatal(err)
			}
			if g.ID != s.ID || g.UserID != "user-1" || !strings.HasPrefix(second, TokenPrefix) || second == first {
				t.Fatalf("Refresh = %+v, %q", g, second)
			}
			if events := f.then(t); len(events) != 0 {
				t.Fatalf("a rotation appended %d events", len(events))
			}
			if _, _, err := f.grants.ByRefreshToken(ctx, inst, first); !errors.Is(err, ErrInvalid) {
				t.Fatalf("the rotated token is still live: %v", err)
			}
			if _, exp, err := f.grants.ByRefreshToken(ctx, inst, second); err != nil || !exp.Equal(f.clock.now().Add(idle)) {
				t.Fatalf("the new token: %v, %v", exp, err)
			}
			if _, third, err := f.grants.Refresh(ctx, inst, "client-1", second, idle); err != nil || third == second {
				t.Fatalf("refreshing the new token: %v", err)
			}
		})
		t.Run("ok/renewal keeps the token and restarts its idle window", func(t *testing.T) {
			s := spec("sess-1", true)
			tok := f.issue(t, s)
			for range 3 {
				f.clock.add(20 * time.Hour) // within idle each time, beyond it in total
				g, err := f.grants.Renew(ctx, inst, "client-1", tok, idle, "")
				if err != nil || g.ID != s.ID {
					t.Fatalf("Renew = %+v, %v", g, err)
				}
				if _, exp, err := f.grants.ByRefreshToken(ctx, inst, tok); err != nil || !exp.Equal(f.clock.now().Add(idle)) {
					t.Fatalf("after renewal: expires %v, %v", exp, err)
				}
			}
			if _, err := f.grants.Renew(ctx, inst, "client-2", tok, idle, ""); !errors.Is(err, ErrInvalid) {
				t.Fatalf("another client renewed: %v", err)
			}
			f.clock.add(idle)
			if _, err := f.grants.Renew(ctx, inst, "client-1", tok, idle, ""); !errors.Is(err, ErrInvalid) {
				t.Fatalf("renewed after its idle window: %v", err)
			}
		})
		t.Run("fail/renewal of a rotated token is reuse", func(t *testing.T) {
			s := spec("sess-1", true)
			first := f.issue(t, s)
			if _, _, err := f.grants.Refresh(ctx, inst, "client-1", first, idle); err != nil {
				t.Fatal(err)
			}
			if _, err := f.grants.Renew(ctx, inst, "client-1", first, idle, ""); !errors.Is(err, ErrReused) || !f.revoked(t, s.ID) {
				t.Fatalf("Renew of a spent token = %v (revoked %v)", err, f.revoked(t, s.ID))
			}
		})
		t.Run("fail/reuse of a rotated token revokes the grant", func(t *testing.T) {
			s := spec("sess-1", true)
			first := f.issue(t, s)
			_, second, err := f.grants.Refresh(ctx, inst, "client-1", first, idle)
			if err != nil {
				t.Fatal(err)
			}
			f.given(t)
			if _, tok, err := f.grants.Refresh(ctx, inst, "client-1", first, idle); !errors.Is(err, ErrReused) || tok != "" {
				t.Fatalf("reuse = %q, %v; want ErrReused", tok, err)
			}
			events := f.then(t)
			if len(events) != 2 {
				t.Fatalf("%d events; want reuse_detected and revoked", len(events))
			}
			if d, ok := events[0].Payload.(*ReuseDetected); !ok || d.ClientID != "client-1" || events[0].Aggregate.ID != s.ID {
				t.Fatalf("first event %s %+v", events[0].Type, events[0].Payload)
			}
			if r, ok := events[1].Payload.(*Revoked); !ok || r.Reason != "reuse" || events[1].Aggregate.ID != s.ID || events[1].Aggregate.Owner != "org-1" {
				t.Fatalf("second event %s %+v", events[1].Type, events[1].Payload)
			}
			if !f.revoked(t, s.ID) {
				t.Fatal("the grant is not revoked")
			}
			for name, tok := range map[string]string{"newest": second, "reused": first} {
				if _, _, err := f.grants.Refresh(ctx, inst, "client-1", tok, idle); !errors.Is(err, ErrInvalid) {
					t.Fatalf("the %s token after the reuse: %v", name, err)
				}
				if _, _, err := f.grants.ByRefreshToken(ctx, inst, tok); !errors.Is(err, ErrInvalid) {
					t.Fatalf("ByRefreshToken(%s) = %v", name, err)
				}
			}
		})
		t.Run("fail/another client's token, which stays the owner's", func(t *testing.T) {
			s := spec("sess-1", true)
			tok := f.issue(t, s)
			f.given(t)
			if _, _, err := f.grants.Refresh(ctx, inst, "client-2", tok, idle); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Refresh = %v; want ErrInvalid", err)
			}
			if _, _, err := f.grants.Refresh(ctx, "inst-b", "client-1", tok, idle); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Refresh in another instance = %v; want ErrInvalid", err)
			}
			if events := f.then(t); len(events) != 0 || f.revoked(t, s.ID) {
				t.Fatalf("another client's attempt appended %d events", len(events))
			}
			_, next, err := f.grants.Refresh(ctx, inst, "client-1", tok, idle)
			if err != nil {
				t.Fatal(err)
			}
			// Another client presenting the used token does not revoke.
			if _, _, err := f.grants.Refresh(ctx, inst, "client-2", tok, idle); !errors.Is(err, ErrInvalid) || f.revoked(t, s.ID) {
				t.Fatalf("another client's reuse = %v", err)
			}
			if _, _, err := f.grants.ByRefreshToken(ctx, inst, next); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("fail/malformed tokens", func(t *testing.T) {
			tok := f.issue(t, spec("sess-1", true))
			for _, bad := range []string{"", strings.TrimPrefix(tok, TokenPrefix), tok + "x", strings.ToUpper(tok), TokenPrefix + strings.Repeat("a", 100)} {
				if _, _, err := f.grants.Refresh(ctx, inst, "client-1", bad, idle); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Refresh(%q) = %v", bad, err)
				}
				if _, _, err := f.grants.ByRefreshToken(ctx, inst, bad); !errors.Is(err, ErrInvalid) {
					t.Fatalf("ByRefreshToken(%q) = %v", bad, err)
				}
			}
		})
		t.Run("fail/an idle-expired token", func(t *testing.T) {
			s := spec("sess-1", true)
			tok := f.issue(t, s)
			f.clock.add(idle - time.Second)
			_, next, err := f.grants.Refresh(ctx, inst, "client-1", tok, idle)
			if err != nil {
				t.Fatalf("a second before the idle expiry: %v", err)
			}
			f.clock.add(idle)
			if _, _, err := f.grants.ByRefreshToken(ctx, inst, next); !errors.Is(err, ErrInvalid) {
				t.Fatalf("ByRefreshToken = %v", err)
			}
			if _, _, err := f.grants.Refresh(ctx, inst, "client-1", next, idle); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Refresh = %v; want ErrInvalid", err)
			}
		})
		t.Run("fail/the grant's absolute expiry bounds new tokens", func(t *testing.T) {
			s := spec("sess-1", true)
			s.Lifetime, s.Idle = 3*time.Hour, 2*time.Hour
			tok := f.issue(t, s)
			end := f.clock.now().Add(3 * time.Hour)
			f.clock.add(90 * time.Minute)
			_, tok, err := f.grants.Refresh(ctx, inst, "client-1", tok, 2*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, exp, err := f.grants.ByRefreshToken(ctx, inst, tok); err != nil || !exp.Equal(end) {
				t.Fatalf("the new token expires at %v (%v); want the grant's end %v", exp, err, end)
			}
			f.clock.add(90*time.Minute - time.Second)
			if _, tok, err = f.grants.Refresh(ctx, inst, "client-1", tok, 2*time.Hour); err != nil {
				t.Fatal(err)
			}
			f.clock.add(time.Second)
			if _, _, err := f.grants.Refresh(ctx, inst, "client-1", tok, 2*time.Hour); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Refresh after the grant's end = %v", err)
			}
			if _, _, err := f.grants.ByRefreshToken(ctx, inst, tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("ByRefreshToken after the grant's end = %v", err)
			}
		})
		t.Run("fail/a grant without a refresh token has none to refresh", func(t *testing.T) {
			s := spec("sess-1", false)
			f.issue(t, s)
			var n int
			if err := f.store.DB().Reader().QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens WHERE grant_id = $1`, s.ID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d refresh tokens, %v", n, err)
			}
		})
	})
}

// Concurrent refreshes of one token: exactly one rotates it; the others
// are reuses (which revoke the grant) or find it revoked.
func TestConcurrentRefreshesRotateOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := newFixture(t, src)
		for round := range 5 {
			s := spec("sess-1", true)
			tok := f.issue(t, s)
			const n = 4
			var mu sync.Mutex
			var ok, reused, invalid int
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, _, err := f.grants.Refresh(ctx, inst, "client-1", tok, idle)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, ErrReused):
						reused++
					case errors.Is(err, ErrInvalid):
						invalid++
					default:
						t.Errorf("Refresh = %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if ok != 1 || reused == 0 {
				t.Fatalf("round %d: %d rotations, %d reuses, %d invalid of %d; want exactly one rotation and a reuse", round, ok, reused, invalid, n)
			}
			if !f.revoked(t, s.ID) {
				t.Fatalf("round %d: the grant survived a reuse", round)
			}
		}
	})
}

func TestRevoke(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := newFixture(t, src)

		t.Run("ok/revoking ends the tokens, once", func(t *testing.T) {
			s := spec("sess-1", true)
			tok := f.issue(t, s)
			f.given(t)
			for range 2 {
				if err := f.grants.Revoke(ctx, editor, inst, s.ID, "revocation"); err != nil {
					t.Fatal(err)
				}
			}
			if events := f.then(t); len(events) != 1 || events[0].Payload.(*Revoked).Reason != "revocation" {
				t.Fatalf("events %v", events)
			}
			if _, _, err := f.grants.Refresh(ctx, inst, "client-1", tok, idle); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Refresh = %v", err)
			}
		})
		t.Run("ok/revoking an unknown grant changes nothing", func(t *testing.T) {
			f.given(t)
			if err := f.grants.Revoke(ctx, editor, inst, "nope", "revocation"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.grants.Get(ctx, inst, "nope"); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Get = %v", err)
			}
			if events := f.then(t); len(events) != 0 {
				t.Fatalf("%d events", len(events))
			}
		})
		t.Run("ok/revoking a session revokes only its grants", func(t *testing.T) {
			mine := []Spec{spec("sess-x", true), spec("sess-x", false)}
			done := spec("sess-x", true)
			other := spec("sess-y", true)
			var tokens []string
			for _, s := range append(slices.Clone(mine), done, other) {
				tokens = append(tokens, f.issue(t, s))
			}
			if err := f.grants.Revoke(ctx, editor, inst, done.ID, "revocation"); err != nil {
				t.Fatal(err)
			}
			f.given(t)
			got, err := f.grants.RevokeSession(ctx, editor, inst, "sess-x")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, g := range got {
				ids = append(ids, g.ID)
			}
			slices.Sort(ids)
			want := []string{mine[0].ID, mine[1].ID}
			slices.Sort(want)
			if !slices.Equal(ids, want) {
				t.Fatalf("RevokeSession = %v; want %v", ids, want)
			}
			events := f.then(t)
			if len(events) != 2 {
				t.Fatalf("%d events", len(events))
			}
			for _, e := range events {
				if r, ok := e.Payload.(*Revoked); !ok || r.Reason != "logout" || !slices.Contains(want, e.Aggregate.ID) {
					t.Fatalf("event %s %+v on %s", e.Type, e.Payload, e.Aggregate.ID)
				}
			}
			if _, _, err := f.grants.Refresh(ctx, inst, "client-1", tokens[0], idle); !errors.Is(err, ErrInvalid) {
				t.Fatalf("the session's token: %v", err)
			}
			if _, _, err := f.grants.Refresh(ctx, inst, "client-1", tokens[3], idle); err != nil {
				t.Fatalf("another session's token: %v", err)
			}
			if got, err := f.grants.RevokeSession(ctx, editor, inst, "sess-x"); err != nil || len(got) != 0 {
				t.Fatalf("second RevokeSession = %v, %v", got, err)
			}
			if got, err := f.grants.RevokeSession(ctx, editor, "inst-b", "sess-y"); err != nil || len(got) != 0 || f.revoked(t, other.ID) {
				t.Fatalf("RevokeSession in another instance = %v, %v", got, err)
			}
		})
	})
}

// A rebuild of the projection from the event log keeps revoked grants
// revoked, and the rotated tokens of live grants as they were.
func TestRebuildKeepsRevocations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := newFixture(t, src)
		reused := spec("sess-1", true)
		first := f.issue(t, reused)
		_, second, err := f.grants.Refresh(ctx, inst, "client-1", first, idle)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.grants.Refresh(ctx, inst, "client-1", first, idle); !errors.Is(err, ErrReused) {
			t.Fatal(err)
		}
		loggedOut := spec("sess-2", true)
		loggedOutToken := f.issue(t, loggedOut)
		if _, err := f.grants.RevokeSession(ctx, editor, inst, "sess-2"); err != nil {
			t.Fatal(err)
		}
		live := spec("sess-3", true)
		liveFirst := f.issue(t, live)
		_, liveSecond, err := f.grants.Refresh(ctx, inst, "client-1", liveFirst, idle)
		if err != nil {
			t.Fatal(err)
		}

		if _, err := f.store.Rebuild(ctx, Projection{}.Name()); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{reused.ID, loggedOut.ID} {
			if !f.revoked(t, id) {
				t.Fatalf("grant %s is live again after a rebuild", id)
			}
		}
		if f.revoked(t, live.ID) {
			t.Fatal("the live grant is revoked after a rebuild")
		}
		for name, tok := range map[string]string{"reused first": first, "reused second": second, "logged out": loggedOutToken} {
			if _, _, err := f.grants.ByRefreshToken(ctx, inst, tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("the %s token is live after a rebuild: %v", name, err)
			}
		}
		if _, _, err := f.grants.ByRefreshToken(ctx, inst, liveSecond); err != nil {
			t.Fatalf("the live grant's rotated token after a rebuild: %v", err)
		}
		if _, _, err := f.grants.Refresh(ctx, inst, "client-1", liveFirst, idle); !errors.Is(err, ErrReused) {
			t.Fatalf("the live grant's used token after a rebuild = %v; want ErrReused", err)
		}
	})
}

func TestSweep(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := newFixture(t, src)
		short := spec("sess-1", true)
		short.Lifetime = time.Hour
		f.issue(t, short)
		long := spec("sess-1", true)
		longToken := f.issue(t, long)
		f.clock.add(time.Hour + time.Second)
		if err := f.grants.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.grants.Get(ctx, inst, short.ID); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("the expired grant: %v", err)
		}
		if _, _, err := f.grants.Refresh(ctx, inst, "client-1", longToken, idle); err != nil {
			t.Fatalf("the live grant: %v", err)
		}
		var n int
		if err := f.store.DB().Reader().QueryRowContext(ctx, `SELECT count(*) FROM refresh_tokens WHERE grant_id = $1`, short.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d refresh tokens of the expired grant, %v", n, err)
		}
	})
}
