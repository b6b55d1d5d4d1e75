package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/report"
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

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is an instance with two organizations, driven through the
// real commands on a fake clock.
type fixture struct {
	t          *testing.T
	store      *eventstore.Store
	db         *database.DB
	clock      *clock
	keys       *keyring.Ring
	users      *user.Commands
	sessions   *session.Commands
	grants     *grants.Grants
	report     *report.Report
	instance   string
	org1, org2 string
	admin      string
}

const pw = "a good password 1"

func newFixture(t *testing.T, src dbtest.Source) *fixture {
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	db := src.Open(t, app.Migrations())
	store, err := eventstore.New(db, app.Registry(), app.Projections(), eventstore.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	hasher := password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 2)
	first, err := setup.Run(ctx, store, hasher, setup.FirstInstance{Name: "Test", Domain: "localhost", OrgName: "First", AdminLoginName: "admin", AdminPassword: "admin-password-1"})
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
	org2, err := org.NewCommands(store, nil).Create(ctx, eventstore.SystemEditor, first.InstanceID, "Second")
	if err != nil {
		t.Fatal(err)
	}
	users := user.NewCommands(store, hasher).WithClock(clk.now)
	sessions := session.NewCommands(session.Deps{
		Store: store, Credentials: users.Credentials().WithClock(clk.now), Keys: keys,
		Settings: func(context.Context, string, string) (settings.Settings, error) { return settings.BuiltIn(), nil },
		UserFacts: func(context.Context, eventstore.Aggregate, []eventstore.Event) (session.Facts, error) {
			return session.Facts{}, nil
		},
	}).WithClock(clk.now)
	return &fixture{t: t, store: store, db: db, clock: clk, keys: keys, users: users, sessions: sessions, grants: grants.New(store, clk.now),
		report: report.New(store, nil), instance: first.InstanceID, org1: first.OrgID, org2: org2, admin: first.AdminID}
}

func (f *fixture) at(s string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		f.t.Fatal(err)
	}
	f.clock.set(t)
}

func (f *fixture) addUser(orgID, login, typ string) string {
	f.t.Helper()
	n := user.New{OrgID: orgID, Type: typ, LoginName: login, Password: pw}
	if typ == "machine" {
		n = user.New{OrgID: orgID, Type: typ, LoginName: login, Traits: json.RawMessage(`{"name":"` + login + `"}`)}
	}
	id, err := f.users.Create(ctx, eventstore.SystemEditor, f.instance, n)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// signIn creates a session for login with a password and returns its id
// and token; a wrong password leaves no usable session ("", "").
func (f *fixture) signIn(login, password string) (string, string) {
	f.t.Helper()
	p := password
	s, token, _, err := f.sessions.Create(ctx, f.instance, session.Client{}, session.Checks{User: &session.UserCheck{LoginName: login}, Password: &p}, session.Challenges{})
	if password == pw && (err != nil || !s.Status.Authenticated) {
		f.t.Fatalf("sign-in of %s: %+v %v", login, s, err)
	}
	if password != pw && err == nil {
		f.t.Fatalf("sign-in of %s with a wrong password succeeded", login)
	}
	return s.ID, token
}

// failAgain checks a wrong password in a live session.
func (f *fixture) failAgain(sessionID, token string) {
	f.t.Helper()
	p := "wrong password"
	if _, _, err := f.sessions.Update(ctx, f.instance, sessionID, token, session.Client{}, session.Checks{Password: &p}, session.Challenges{}); err == nil {
		f.t.Fatal("a wrong password passed")
	}
}

// grant redeems a code of clientID made from the session.
func (f *fixture) grant(sessionID, userID, clientID string) {
	f.t.Helper()
	if _, err := f.grants.Issue(ctx, eventstore.SystemEditor, grants.Spec{Grant: grants.Grant{ID: grants.NewID(), InstanceID: f.instance, ClientID: clientID,
		UserID: userID, OrgID: f.org1, SessionID: sessionID, AuthTime: f.clock.now()}, Lifetime: time.Hour}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) addTOTP(userID string) {
	f.t.Helper()
	reg, err := f.users.AddTOTP(ctx, eventstore.SystemEditor, f.instance, userID, "Test", f.keys)
	if err != nil {
		f.t.Fatal(err)
	}
	code, err := totp.GenerateCode(reg.Secret, f.clock.now())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.users.VerifyTOTP(ctx, eventstore.SystemEditor, f.instance, userID, code, f.keys); err != nil {
		f.t.Fatal(err)
	}
}

// catchUp lets the report read every event of the log it reads. On
// PostgreSQL a transaction of another database of the cluster may hold
// events back for a moment (settled events only), hence the retries.
func (f *fixture) catchUp() {
	f.t.Helper()
	all, err := f.store.Query(ctx, eventstore.Filter{AllInstances: true, EventTypes: report.EventTypes()})
	if err != nil {
		f.t.Fatal(err)
	}
	last := all[len(all)-1].Position
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := f.report.CatchUp(ctx); err != nil {
			f.t.Fatal(err)
		}
		got, err := f.store.Checkpoint(ctx, report.SubscriptionName)
		if err != nil {
			f.t.Fatal(err)
		}
		if got == last {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the report reached %v, not %v", got, last)
		}
	}
}

func days(t *testing.T, from, to string) report.Days {
	t.Helper()
	d, err := report.ParseDays(from, to, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func figures(cs []report.Count) string {
	var b []string
	for _, c := range cs {
		b = append(b, fmt.Sprintf("%s=%d", c.Period, c.Count))
	}
	return strings.Join(b, " ")
}

func signIns(ss []report.SignIns) string {
	var b []string
	for _, s := range ss {
		client := s.ClientID
		if client == "" {
			client = "-"
		}
		b = append(b, fmt.Sprintf("%s/%s=%d+%d-", s.Day, client, s.Succeeded, s.Failed))
	}
	return strings.Join(b, " ")
}

func TestFigures(t *testing.T) { dbtest.Each(t, testFigures) }

// testFigures signs users in over several days and checks every figure,
// then that a replay of the log gives the same rows.
func testFigures(t *testing.T, src dbtest.Source) {
	f := newFixture(t, src)
	// 1 March: admin (by the first start), alice, bob and a machine in
	// the first organization, carol in the second.
	alice := f.addUser(f.org1, "alice", "human")
	bob := f.addUser(f.org1, "bob", "human")
	f.addUser(f.org1, "robot", "machine")
	carol := f.addUser(f.org2, "carol", "human")
	f.catchUp()

	// alice signs in, mistypes her password in the same session, and
	// her session gets a code for app-a: the sign-in and the failure
	// move to app-a. bob fails in a session of his own, and somebody
	// tries a name that is nobody's.
	f.at("2026-03-01T10:00:00Z")
	s1, token1 := f.signIn("alice", pw)
	f.failAgain(s1, token1)
	f.catchUp() // read before the grant: the sign-in is under no application for now
	if got := signIns(mustSignIns(t, f, f.org1, nil, "2026-03-01", "2026-03-01")); got != "2026-03-01/-=1+1-" {
		t.Fatalf("before the grant: %s", got)
	}
	f.at("2026-03-01T10:00:05Z")
	f.grant(s1, alice, "app-a")
	f.grant(s1, alice, "app-b") // single sign-on: the sign-in stays app-a's
	f.signIn("bob", "wrong password")
	f.signIn("nobody", "wrong password")
	f.catchUp()

	// 2 March: alice signs in twice (one active user), carol once; alice
	// turns on TOTP.
	f.at("2026-03-02T23:59:00Z")
	s4, _ := f.signIn("alice", pw)
	f.signIn("alice", pw)
	f.signIn("carol", pw)
	f.addTOTP(alice)
	f.catchUp()
	f.signIn("alice", pw) // once more, read in a batch of its own: still one active user
	f.catchUp()

	// 1 April: bob signs in; alice removes her TOTP, carol adds one,
	// bob is deleted.
	f.at("2026-04-01T00:00:00Z")
	f.signIn("bob", pw)
	if err := f.users.RemoveTOTP(ctx, eventstore.SystemEditor, f.instance, alice); err != nil {
		t.Fatal(err)
	}
	f.addTOTP(carol)
	if err := f.users.Delete(ctx, eventstore.SystemEditor, f.instance, bob); err != nil {
		t.Fatal(err)
	}
	f.catchUp()
	// alice's sessions of 2 March are forgotten by 5 April
	// (report.SessionMemory): a code redeemed from one of them then
	// moves nothing.
	f.at("2026-04-05T12:00:00Z")
	f.grant(s4, alice, "app-c")
	f.catchUp()

	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	dau := func(orgID, from, to string) string {
		got, err := report.DailyActiveUsers(ctx, f.db, f.instance, orgID, days(t, from, to))
		if err != nil {
			t.Fatal(err)
		}
		return figures(got)
	}
	mau := func(orgID, from, to string) string {
		got, err := report.MonthlyActiveUsers(ctx, f.db, f.instance, orgID, days(t, from, to))
		if err != nil {
			t.Fatal(err)
		}
		return figures(got)
	}
	newUsers := func(orgID, from, to string) string {
		got, err := report.NewUsers(ctx, f.db, f.instance, orgID, days(t, from, to))
		if err != nil {
			t.Fatal(err)
		}
		return figures(got)
	}
	adoption := func(orgID, from, to string) string {
		now, series, err := report.MFAAdoption(ctx, f.db, f.instance, orgID, days(t, from, to))
		if err != nil {
			t.Fatal(err)
		}
		out := fmt.Sprintf("now=%d/%d", now.MFAUsers, now.Users)
		for _, a := range series {
			out += fmt.Sprintf(" %s=%d/%d", a.Period, a.MFAUsers, a.Users)
		}
		return out
	}
	verify := func() {
		t.Helper()
		check("daily active, first org", dau(f.org1, "2026-03-01", "2026-03-03"), "2026-03-01=1 2026-03-02=1 2026-03-03=0")
		check("daily active, instance", dau("", "2026-03-01", "2026-03-03"), "2026-03-01=1 2026-03-02=2 2026-03-03=0")
		check("daily active, April", dau("", "2026-03-31", "2026-04-01"), "2026-03-31=0 2026-04-01=1")
		check("monthly active, first org", mau(f.org1, "2026-02-15", "2026-04-02"), "2026-02=0 2026-03=1 2026-04=1")
		check("monthly active, instance", mau("", "2026-03-31", "2026-04-01"), "2026-03=2 2026-04=1")
		check("monthly active, second org", mau(f.org2, "2026-03-31", "2026-04-01"), "2026-03=1 2026-04=0")
		check("new users, first org", newUsers(f.org1, "2026-03-01", "2026-03-02"), "2026-03-01=4 2026-03-02=0")
		check("new users, instance", newUsers("", "2026-03-01", "2026-03-01"), "2026-03-01=5")
		check("sign-ins, instance", signIns(mustSignIns(t, f, "", nil, "2026-03-01", "2026-04-01")),
			"2026-03-01/-=0+2- 2026-03-01/app-a=1+1- 2026-03-02/-=4+0- 2026-04-01/-=1+0-")
		check("sign-ins, first org", signIns(mustSignIns(t, f, f.org1, nil, "2026-03-01", "2026-03-02")),
			"2026-03-01/-=0+1- 2026-03-01/app-a=1+1- 2026-03-02/-=3+0-")
		appA := "app-a"
		check("sign-ins, app-a", signIns(mustSignIns(t, f, "", &appA, "2026-03-01", "2026-04-01")), "2026-03-01/app-a=1+1-")
		check("sign-ins, second org", signIns(mustSignIns(t, f, f.org2, nil, "2026-03-01", "2026-04-01")), "2026-03-02/-=1+0-")
		// People: the admin, alice and bob (not the machine) in the first
		// organization, carol in the second.
		check("MFA, first org", adoption(f.org1, "2026-02-28", "2026-03-03"), "now=0/2 2026-02-28=0/0 2026-03-01=0/3 2026-03-02=1/3 2026-03-03=1/3")
		check("MFA, first org in April", adoption(f.org1, "2026-03-31", "2026-04-01"), "now=0/2 2026-03-31=1/3 2026-04-01=0/2")
		check("MFA, second org", adoption(f.org2, "2026-03-31", "2026-04-01"), "now=1/1 2026-03-31=0/1 2026-04-01=1/1")
		check("MFA, instance", adoption("", "2026-03-31", "2026-04-01"), "now=1/3 2026-03-31=1/4 2026-04-01=1/3")
	}
	verify()

	incremental := dump(t, f.db)
	n, err := f.report.Replay(ctx)
	if err != nil || n == 0 {
		t.Fatalf("replay: %d events, %v", n, err)
	}
	if rebuilt := dump(t, f.db); !slices.Equal(rebuilt, incremental) {
		t.Fatalf("replayed rows differ from the incremental ones:\nincremental %v\nreplayed    %v", incremental, rebuilt)
	}
	verify()

	// A new version of the report reads the log again under a checkpoint
	// of its own; its first batch deletes the rows of the old version.
	if err := f.db.InTx(ctx, func(tx *database.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE report_state SET value = 0 WHERE name = 'version'`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO report_sign_ins (instance_id, org_id, day, client_id, succeeded, failed) VALUES ($1, $2, 1, 'stale', 7, 7)`,
			f.instance, f.org1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want, err := f.store.Checkpoint(ctx, report.SubscriptionName)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := f.store.CatchUp(ctx, f.report.SubscriptionNamed("report.next")); err != nil {
			t.Fatal(err)
		}
		if got, err := f.store.Checkpoint(ctx, "report.next"); err != nil || got == want {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a new version did not catch up")
		}
	}
	if rebuilt := dump(t, f.db); !slices.Equal(rebuilt, incremental) {
		t.Fatalf("a new version's rows differ from the incremental ones:\nincremental %v\nnew version %v", incremental, rebuilt)
	}
}

func mustSignIns(t *testing.T, f *fixture, orgID string, clientID *string, from, to string) []report.SignIns {
	t.Helper()
	got, err := report.ListSignIns(ctx, f.db, f.instance, orgID, clientID, days(t, from, to))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// dump lists every row of the report's tables, sorted.
func dump(t *testing.T, db *database.DB) []string {
	t.Helper()
	var out []string
	for _, table := range []string{"report_sessions", "report_session_failures", "report_sign_ins", "report_active_days", "report_active_months",
		"report_daily", "report_monthly", "report_users", "report_mfa"} {
		for _, vals := range dbtest.Rows(t)(db.Reader().QueryContext(ctx, `SELECT * FROM `+table)) {
			out = append(out, table+fmt.Sprint(vals...))
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		t.Fatal("no rows")
	}
	return out
}

func TestParseDays(t *testing.T) {
	today := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, from, to string
		want           string // "from..to" or the field of the error
	}{
		{"ok/defaults to the 30 days ending today", "", "", "2026-02-09..2026-03-10"},
		{"ok/one day", "2026-03-01", "2026-03-01", "2026-03-01..2026-03-01"},
		{"ok/400 days", "2025-02-07", "2026-03-13", "2025-02-07..2026-03-13"},
		{"fail/401 days", "2025-02-06", "2026-03-13", "from"},
		{"fail/to before from", "2026-03-02", "2026-03-01", "to"},
		{"fail/not a day", "2026-3-1", "", "from"},
		{"fail/a time", "", "2026-03-01T00:00:00Z", "to"},
		{"fail/no such day", "2026-02-30", "", "from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := report.ParseDays(tc.from, tc.to, today)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) || strings.Contains(tc.want, "..") {
					t.Fatalf("got %v, want %s", err, tc.want)
				}
				return
			}
			if got := report.FormatDay(d.From) + ".." + report.FormatDay(d.To); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func FuzzParseDays(f *testing.F) {
	f.Add("2026-03-01", "2026-03-31")
	f.Add("", "")
	f.Add("2026-02-30", "x")
	f.Add("0000-01-01", "9999-12-31")
	today := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, from, to string) {
		d, err := report.ParseDays(from, to, today)
		if err != nil {
			return
		}
		if d.To < d.From || d.To-d.From+1 > report.MaxDays {
			t.Fatalf("%q..%q gave %+v", from, to, d)
		}
		if from != "" && report.FormatDay(d.From) != from || to != "" && report.FormatDay(d.To) != to {
			t.Fatalf("%q..%q read as %s..%s", from, to, report.FormatDay(d.From), report.FormatDay(d.To))
		}
	})
}
