package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/pairbench"
	"github.com/castellan-iam/castellan/internal/report"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
)

// benchLog appends a month of sign-ins to a fresh store: users users of
// one organization, and sessions sessions spread over 30 days, each a
// user check and a password (one in four with a wrong password first,
// one in two with a grant for one of three applications). It returns the
// store and how many events the report reads.
func benchLog(b *testing.B, src dbtest.Source, users, sessions int) (*eventstore.Store, int) {
	b.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	store, err := eventstore.New(src.Open(b, app.Migrations()), app.Registry(), app.Projections(), eventstore.Options{Now: clk.now})
	if err != nil {
		b.Fatal(err)
	}
	const inst, orgID = "bench-instance", "bench-org"
	ids := make([]string, users)
	for i := range ids {
		ids[i] = id.New()
		if _, err := store.Push(ctx, eventstore.SystemEditor, eventstore.Append{
			Aggregate:        eventstore.Aggregate{InstanceID: inst, Type: user.AggregateType, ID: ids[i], Owner: orgID},
			ExpectedSequence: eventstore.NewAggregate,
			Events:           []eventstore.Payload{&user.Added{SchemaType: "human", LoginName: fmt.Sprintf("user%d", i), Traits: []byte(`{}`)}},
		}); err != nil {
			b.Fatal(err)
		}
	}
	n := users
	for i := range sessions {
		clk.set(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 30 * 24 * time.Hour / time.Duration(sessions)))
		u := ids[i%users]
		events := []eventstore.Payload{&session.Created{TokenHash: "h"}, &session.UserChecked{UserID: u, OrgID: orgID, LoginName: "x"}}
		if i%4 == 0 {
			events = append(events, &session.CheckFailed{Factor: session.FactorPassword})
		}
		events = append(events, &session.FactorChecked{Factor: session.FactorPassword})
		sessionID := id.New()
		if _, err := store.Push(ctx, eventstore.Editor{UserID: u, ClientID: "session"}, eventstore.Append{
			Aggregate:        eventstore.Aggregate{InstanceID: inst, Type: session.AggregateType, ID: sessionID, Owner: orgID},
			ExpectedSequence: eventstore.NewAggregate, Events: events,
		}); err != nil {
			b.Fatal(err)
		}
		n += len(events) - 1 // session.created is not read
		if i%2 == 0 {
			if _, err := grants.New(store, clk.now).Issue(ctx, eventstore.SystemEditor, grants.Spec{Grant: grants.Grant{ID: grants.NewID(), InstanceID: inst,
				ClientID: fmt.Sprintf("app-%d", i%3), UserID: u, OrgID: orgID, SessionID: sessionID, AuthTime: clk.now()}, Lifetime: time.Hour}); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	return store, n
}

// BenchmarkProjection reads a month of sign-ins (~5,500 events) through
// the report's subscription from position 0, alternating with the same
// events through a subscription whose handler does nothing: the reference
// is the cost of reading the events and advancing the checkpoint, the
// ratio what the report's rows add. events/s is the report's rate.
func BenchmarkProjection(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			store, n := benchLog(b, backend.New(b), 200, 2000)
			r := report.New(store, nil)
			var reading time.Duration
			pairbench.Alternate(b, "report", func(i int) error {
				if err := r.Reset(ctx); err != nil {
					return err
				}
				start := time.Now()
				got, err := store.CatchUp(ctx, r.SubscriptionNamed(fmt.Sprintf("bench.report.%d", i)))
				reading += time.Since(start)
				if err == nil && got != n {
					err = fmt.Errorf("read %d events, want %d", got, n)
				}
				return err
			}, "noop", func(i int) error {
				sub := r.SubscriptionNamed(fmt.Sprintf("bench.noop.%d", i))
				sub.Handle = func(_ context.Context, tx *database.Tx, events []eventstore.Event) error { return nil }
				_, err := store.CatchUp(ctx, sub)
				return err
			})
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(float64(n)*float64(b.N)/reading.Seconds(), "events/s")
		})
	}
}

// yearOfRows writes the rows a year of sign-ins leaves: orgs
// organizations, each with 365 days of daily figures, of sign-ins through
// three applications and none, twelve months, and a change of its MFA
// figure every day. The figures are made up; their number is a year's.
func yearOfRows(b *testing.B, db *database.DB, orgs int) (first int64) {
	b.Helper()
	first = report.DayOf(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	err := db.InTx(ctx, func(tx *database.Tx) error {
		for o := range orgs + 1 {
			orgID := fmt.Sprintf("org-%d", o)
			if o == orgs {
				orgID = "*" // the instance's totals
			}
			for d := first; d < first+365; d++ {
				if _, err := tx.ExecContext(ctx, `INSERT INTO report_daily (instance_id, org_id, day, active_users, new_users) VALUES ('i', $1, $2, $3, $4)`,
					orgID, d, d%97, d%7); err != nil {
					return err
				}
				for c := range 4 {
					if _, err := tx.ExecContext(ctx, `INSERT INTO report_sign_ins (instance_id, org_id, day, client_id, succeeded, failed) VALUES ('i', $1, $2, $3, $4, $5)`,
						orgID, d, fmt.Sprintf("app-%d", c), d%50, d%5); err != nil {
						return err
					}
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO report_mfa (instance_id, org_id, day, users, mfa_users) VALUES ('i', $1, $2, $3, $4)`,
					orgID, d, 1000+d%10, d%100); err != nil {
					return err
				}
			}
			for m := range 13 {
				month := 202503 + m
				if month%100 > 12 {
					month += 100 - 12
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO report_monthly (instance_id, org_id, month, active_users) VALUES ('i', $1, $2, 500)`, orgID, month); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
	return first
}

// BenchmarkQueryYear reads a year of one organization's figures (among
// 100 organizations' years) through each report query, alternating with
// one point read of a primary key of the same table (the reference).
func BenchmarkQueryYear(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			db := backend.New(b).Open(b, app.Migrations())
			first := yearOfRows(b, db, 100)
			year := report.Days{From: first, To: first + 364}
			point := func(int) error {
				var n int64
				return db.Reader().QueryRowContext(ctx, `SELECT active_users FROM report_daily WHERE instance_id = 'i' AND org_id = 'org-42' AND day = $1`, first+100).Scan(&n)
			}
			for _, q := range []struct {
				name string
				run  func() (int, error)
			}{
				{"daily_active_users", func() (int, error) {
					got, err := report.DailyActiveUsers(ctx, db, "i", "org-42", year)
					return len(got), err
				}},
				{"monthly_active_users", func() (int, error) {
					got, err := report.MonthlyActiveUsers(ctx, db, "i", "org-42", year)
					return len(got), err
				}},
				{"sign_ins", func() (int, error) {
					got, err := report.ListSignIns(ctx, db, "i", "org-42", nil, year)
					return len(got), err
				}},
				{"mfa_adoption", func() (int, error) {
					_, got, err := report.MFAAdoption(ctx, db, "i", "org-42", year)
					return len(got), err
				}},
				{"daily_active_users_instance", func() (int, error) {
					got, err := report.DailyActiveUsers(ctx, db, "i", "", year)
					return len(got), err
				}},
			} {
				b.Run(q.name, func(b *testing.B) {
					pairbench.Alternate(b, "query", func(int) error {
						n, err := q.run()
						if err == nil && n < 12 {
							err = fmt.Errorf("%d rows", n)
						}
						return err
					}, "point", point)
				})
			}
		})
	}
}
