package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/history"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

var editor = eventstore.Editor{UserID: "admin"}

func noServices(*app.App, *authn.Authenticator) []api.Service { return nil }

// pause separates two changes in time, so a moment between them exists.
func pause() time.Time {
	time.Sleep(2 * time.Millisecond)
	t := time.Now()
	time.Sleep(2 * time.Millisecond)
	return t
}

// TestUserAt changes a user many times, keeps what the live read model
// said after each change, and asks history for each moment: the replayed
// user must equal the snapshot. Then the diff between two moments names
// the fields that changed, and a deleted user is gone after its deletion.
func TestUserAt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, noServices)
		ctx := context.Background()
		a, users := env.App, env.App.UserCommands()
		id, err := users.Create(ctx, editor, env.InstanceID, user.New{Type: "human", OrgID: env.OrgID, LoginName: "ada", Email: "ada@example.com",
			Password: "correct horse battery staple", Traits: json.RawMessage(`{"profile": {"given_name": "Ada"}}`)})
		if err != nil {
			t.Fatal(err)
		}
		before := pause()
		type snapshot struct {
			at time.Time
			u  user.User
		}
		var snaps []snapshot
		take := func() {
			u, err := user.Get(ctx, a.DB, env.InstanceID, id, userschema.Admin)
			if err != nil {
				t.Fatal(err)
			}
			snaps = append(snaps, snapshot{pause(), u})
		}
		take()
		for i := range 12 {
			email := fmt.Sprintf("ada+%d@example.com", i)
			p := user.Patch{Email: &email}
			if i%3 == 1 {
				p.Traits = json.RawMessage(fmt.Sprintf(`{"profile": {"given_name": "Ada %d"}}`, i))
			}
			if err := users.Update(ctx, editor, env.InstanceID, id, userschema.Admin, p); err != nil {
				t.Fatal(err)
			}
			if i == 5 {
				if err := users.Lock(ctx, editor, env.InstanceID, id); err != nil {
					t.Fatal(err)
				}
			}
			if i == 8 {
				if err := users.Unlock(ctx, editor, env.InstanceID, id); err != nil {
					t.Fatal(err)
				}
			}
			take()
		}
		h := a.History()
		if _, _, err := h.UserAt(ctx, env.InstanceID, id, before.Add(-time.Hour)); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("before the user existed: %v", err)
		}
		for i, s := range snaps {
			got, events, err := h.UserAt(ctx, env.InstanceID, id, s.at)
			if err != nil {
				t.Fatal(err)
			}
			if changes, _ := history.Diff(s.u, got, nil); len(changes) != 0 {
				t.Fatalf("moment %d: the replayed user differs from the snapshot: %+v", i, changes)
			}
			if len(events) == 0 {
				t.Fatalf("moment %d: no events replayed", i)
			}
		}
		first, _, _ := h.UserAt(ctx, env.InstanceID, id, snaps[0].at)
		locked, _, _ := h.UserAt(ctx, env.InstanceID, id, snaps[7].at)
		changes, err := history.Diff(first, locked, nil)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, c := range changes {
			paths = append(paths, c.Path)
		}
		for _, want := range []string{"/Email", "/State", "/Traits/profile/given_name", "/Sequence"} {
			if !slices.Contains(paths, want) {
				t.Fatalf("diff %v lacks %s", paths, want)
			}
		}
		if err := users.Delete(ctx, editor, env.InstanceID, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := h.UserAt(ctx, env.InstanceID, id, time.Now().Add(time.Second)); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("after deletion: %v", err)
		}
		if _, _, err := h.UserAt(ctx, env.InstanceID, id, snaps[3].at); err != nil {
			t.Fatalf("before the deletion: %v", err)
		}
	})
}

// TestWhoHeld: a role granted, shrunk away and granted again; history
// names its holders at each moment, and a user's authorizations then.
func TestWhoHeld(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, noServices)
		ctx := context.Background()
		a := env.App
		p, err := client.NewCommands(a.Store, a.Keys, nil).CreateProject(ctx, editor, env.InstanceID, env.OrgID, "Portal")
		if err != nil {
			t.Fatal(err)
		}
		access := project.NewCommands(a.Store)
		for _, r := range []string{"admin", "viewer"} {
			if err := access.AddRole(ctx, editor, env.InstanceID, p.ID, project.Role{Key: r}); err != nil {
				t.Fatal(err)
			}
		}
		auth, err := access.AddAuthorization(ctx, editor, env.InstanceID, project.Subject{UserID: env.AdminID}, p.ID, "", []string{"admin"})
		if err != nil {
			t.Fatal(err)
		}
		held := pause()
		if err := access.ChangeAuthorization(ctx, editor, env.InstanceID, auth.ID, []string{"viewer"}); err != nil {
			t.Fatal(err)
		}
		dropped := pause()
		if err := access.RemoveRole(ctx, editor, env.InstanceID, p.ID, "viewer"); err != nil {
			t.Fatal(err)
		}
		gone := pause()
		h := a.History()
		for _, tc := range []struct {
			at         time.Time
			role       string
			wantHolder bool
		}{
			{held, "admin", true}, {held, "viewer", false}, {dropped, "admin", false}, {dropped, "viewer", true}, {gone, "viewer", false},
		} {
			users, events, err := h.HoldersAt(ctx, env.InstanceID, p.ID, tc.role, tc.at, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Contains(users, env.AdminID); got != tc.wantHolder || len(events) == 0 {
				t.Fatalf("holders of %s at %s: %v (events %d)", tc.role, tc.at, users, len(events))
			}
		}
		list, _, err := h.AuthorizationsAt(ctx, env.InstanceID, env.AdminID, dropped)
		if err != nil || len(list) != 1 || !slices.Equal(list[0].Roles, []string{"viewer"}) {
			t.Fatalf("authorizations then: %+v %v", list, err)
		}
		proj, err := h.ProjectAt(ctx, env.InstanceID, p.ID, dropped)
		if err != nil || len(proj.Roles) != 2 {
			t.Fatalf("project then: %+v %v", proj, err)
		}
		proj, err = h.ProjectAt(ctx, env.InstanceID, p.ID, gone)
		if err != nil || len(proj.Roles) != 1 {
			t.Fatalf("project now: %+v %v", proj, err)
		}
	})
}

// BenchmarkUserAt times the state of a user with 1,000 events at its
// latest moment, alternating with the live read of the same user (its
// reference: what the API pays for the present).
func BenchmarkUserAt(b *testing.B) {
	env := apitest.Start(b, noServices)
	ctx := context.Background()
	users := env.App.UserCommands()
	id, err := users.Create(ctx, editor, env.InstanceID, user.New{Type: "human", OrgID: env.OrgID, LoginName: "ada", Email: "ada@example.com"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 999 {
		email := fmt.Sprintf("ada+%d@example.com", i)
		if err := users.Update(ctx, editor, env.InstanceID, id, userschema.Admin, user.Patch{Email: &email}); err != nil {
			b.Fatal(err)
		}
	}
	h := env.App.History()
	now := time.Now().Add(time.Second)
	var replay, live time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, events, err := h.UserAt(ctx, env.InstanceID, id, now); err != nil || len(events) < 1000 {
			b.Fatalf("%d events: %v", len(events), err)
		}
		t1 := time.Now()
		if _, err := user.Get(ctx, env.App.DB, env.InstanceID, id, userschema.Admin); err != nil {
			b.Fatal(err)
		}
		replay += t1.Sub(t0)
		live += time.Since(t1)
	}
	b.ReportMetric(float64(replay.Microseconds())/float64(b.N)/1000, "replay-ms/op")
	b.ReportMetric(float64(live.Microseconds())/float64(b.N), "live-µs/op")
}

// pushOrgMetadata sets n metadata values on an organization, 1,000 per
// append, keys cycling over 100.
func pushOrgMetadata(tb testing.TB, env *apitest.Env, from, n int) {
	tb.Helper()
	for pushed := from; pushed < from+n; pushed += 1000 {
		events := make([]eventstore.Payload, min(1000, from+n-pushed))
		for i := range events {
			events[i] = &org.MetadataSet{Key: fmt.Sprintf("key-%d", (pushed+i)%100), Value: []byte(fmt.Sprint(pushed + i))}
		}
		if _, err := env.App.Store.Push(context.Background(), editor, eventstore.Append{Aggregate: eventstore.Aggregate{InstanceID: env.InstanceID,
			Type: org.AggregateType, ID: env.OrgID, Owner: env.OrgID}, ExpectedSequence: eventstore.AnySequence, Events: events}); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestOrgAtFromSnapshots changes an organization 2,500 times, keeping
// the live read model after each 500, and asks history for each moment,
// with a snapshot every 1,000 events: first at the newest (which stores
// snapshots after 1,000 and 2,000 events), then at the others, which start
// from a snapshot when one is old enough. Every answer must equal the live
// model of its moment.
func TestOrgAtFromSnapshots(t *testing.T) {
	every := history.SnapshotEvery
	history.SnapshotEvery = 1000
	t.Cleanup(func() { history.SnapshotEvery = every })
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := apitest.StartOn(t, src, noServices)
		ctx := context.Background()
		type moment struct {
			at  time.Time
			org org.Org
		}
		var moments []moment
		for i := range 5 {
			pushOrgMetadata(t, env, i*500, 500)
			o, err := org.Get(ctx, env.App.DB, env.InstanceID, env.OrgID)
			if err != nil {
				t.Fatal(err)
			}
			moments = append(moments, moment{pause(), o})
		}
		h := env.App.History()
		snapshots := func() int {
			var n int
			if err := env.App.DB.Reader().QueryRow(`SELECT COUNT(*) FROM history_snapshots`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, i := range []int{4, 0, 1, 2, 3, 4} {
			got, err := h.OrgAt(ctx, env.InstanceID, env.OrgID, moments[i].at)
			if err != nil {
				t.Fatal(err)
			}
			want := moments[i].org
			if got.Sequence != want.Sequence || !reflect.DeepEqual(got.Metadata, want.Metadata) || got.Name != want.Name {
				t.Fatalf("moment %d: sequence %d with %d metadata, want %d with %d", i, got.Sequence, len(got.Metadata), want.Sequence, len(want.Metadata))
			}
			if n := snapshots(); n != 2 {
				t.Fatalf("after asking for moment %d: %d snapshots, want 2 (after 1,000 and 2,000 events)", i, n)
			}
		}
	})
}

// BenchmarkOrgAt asks for an organization with 100,000 events (metadata
// changes, 1,000 per append) as it is now, next to reading it live.
func BenchmarkOrgAt(b *testing.B) {
	env := apitest.Start(b, noServices)
	ctx := context.Background()
	pushOrgMetadata(b, env, 0, 100_000)
	h := env.App.History()
	now := time.Now().Add(time.Second)
	// The first question replays everything and stores a snapshot every
	// 10,000 events; the benchmark measures the questions after it.
	t0 := time.Now()
	if _, err := h.OrgAt(ctx, env.InstanceID, env.OrgID, now); err != nil {
		b.Fatal(err)
	}
	first := time.Since(t0)
	var replay, live time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := h.OrgAt(ctx, env.InstanceID, env.OrgID, now); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := org.Get(ctx, env.App.DB, env.InstanceID, env.OrgID); err != nil {
			b.Fatal(err)
		}
		replay += t1.Sub(t0)
		live += time.Since(t1)
	}
	b.ReportMetric(float64(replay.Microseconds())/float64(b.N)/1000, "replay-ms/op")
	b.ReportMetric(float64(live.Microseconds())/float64(b.N), "live-µs/op")
	b.ReportMetric(float64(first.Milliseconds()), "first-ms")
}

// BenchmarkOrgDiff asks what changed in an organization with 100,000
// events (metadata changes, 1,000 per append) between a moment after its
// first 50,000 and now, alternating with the two questions a diff asks —
// the organization at each moment (GetOrganizationAt), the reference: a
// diff folds the organization at both moments, each from its nearest
// snapshot, and compares them.
func BenchmarkOrgDiff(b *testing.B) {
	env := apitest.Start(b, noServices)
	ctx := context.Background()
	pushOrgMetadata(b, env, 0, 50_000)
	mid := pause()
	pushOrgMetadata(b, env, 50_000, 50_000)
	h := env.App.History()
	now := time.Now().Add(time.Second)
	// The first question replays everything and stores the snapshots.
	if _, err := h.OrgAt(ctx, env.InstanceID, env.OrgID, now); err != nil {
		b.Fatal(err)
	}
	var diff, atFrom, atTo time.Duration
	b.ResetTimer()
	for i := range b.N {
		// Half the rounds ask the diff first, half last: neither pays for
		// the other's cache misses or garbage.
		if i%2 == 0 {
			diff += timeDiff(b, h, env, mid, now)
		}
		t1 := time.Now()
		if _, err := h.OrgAt(ctx, env.InstanceID, env.OrgID, mid); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := h.OrgAt(ctx, env.InstanceID, env.OrgID, now); err != nil {
			b.Fatal(err)
		}
		atFrom += t2.Sub(t1)
		atTo += time.Since(t2)
		if i%2 == 1 {
			diff += timeDiff(b, h, env, mid, now)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) / 1000 }
	b.ReportMetric(ms(diff), "diff-ms/op")
	b.ReportMetric(ms(atFrom), "at-from-ms/op")
	b.ReportMetric(ms(atTo), "at-to-ms/op")
	b.ReportMetric(float64(diff)/float64(atFrom+atTo), "diff/(from+to)")
	b.ReportMetric(float64(diff)/float64(atTo), "diff/to")
}

func timeDiff(b *testing.B, h *history.Replayer, env *apitest.Env, from, to time.Time) time.Duration {
	t0 := time.Now()
	changes, err := h.DiffOrg(context.Background(), env.InstanceID, env.OrgID, from, to, nil)
	if err != nil || len(changes) == 0 {
		b.Fatalf("%d changes: %v", len(changes), err)
	}
	return time.Since(t0)
}
