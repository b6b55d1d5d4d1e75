package reportapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	reportv1 "github.com/castellan-iam/castellan/gen/castellan/report/v1"
	"github.com/castellan-iam/castellan/gen/castellan/report/v1/reportv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/reportapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/report"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
)

var ctx = context.Background()

const pw = "a good password 1"

func TestReports(t *testing.T) { dbtest.Each(t, testReports) }

// testReports signs users of two organizations in and reads the reports
// as an instance administrator, as each organization's administrator,
// and as callers who must learn nothing.
func testReports(t *testing.T, src dbtest.Source) {
	env := apitest.StartOn(t, src, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{reportapi.NewService(a.DB, auth)}
	})
	users := env.App.UserCommands()
	addUser := func(orgID, login string) string {
		t.Helper()
		id, err := users.Create(ctx, eventstore.SystemEditor, env.InstanceID, user.New{OrgID: orgID, Type: "human", LoginName: login, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	other, err := org.NewCommands(env.App.Store, nil).Create(ctx, eventstore.SystemEditor, env.InstanceID, "Other")
	if err != nil {
		t.Fatal(err)
	}
	addUser(env.OrgID, "alice")
	viewer := addUser(env.OrgID, "viewer")
	env.GrantOrg(t, env.OrgID, viewer, "org.viewer") // reads, but not reports
	otherAdmin := addUser(other, "other-admin")
	env.GrantOrg(t, other, otherAdmin, "org.owner")
	plain := addUser(other, "plain")

	sessions := env.App.Sessions()
	signIn := func(login, password string) {
		t.Helper()
		p := password
		_, _, _, err := sessions.Create(ctx, env.InstanceID, session.Client{}, session.Checks{User: &session.UserCheck{LoginName: login}, Password: &p}, session.Challenges{})
		if (err == nil) != (password == pw) {
			t.Fatalf("sign-in of %s: %v", login, err)
		}
	}
	signIn("alice", pw)
	signIn("alice", pw)
	signIn("alice", "wrong")
	signIn("other-admin", pw)
	catchUp(t, env)

	c := reportv1connect.NewReportServiceClient(env.Client, env.URL)
	as := func(token string, r connect.AnyRequest) {
		if token != "" {
			r.Header().Set("Authorization", apitest.Bearer(token))
		}
	}
	today := report.FormatDay(report.DayOf(time.Now()))
	activeUsers := func(token, orgID, granularity string) (*reportv1.GetActiveUsersResponse, error) {
		r := connect.NewRequest(&reportv1.GetActiveUsersRequest{OrganizationId: orgID, From: today, To: today, Granularity: granularity})
		as(token, r)
		resp, err := c.GetActiveUsers(ctx, r)
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	adminToken, otherToken := env.AdminToken, env.Token(t, otherAdmin, other)

	t.Run("ok/instance administrator reads the instance", func(t *testing.T) {
		got, err := activeUsers(adminToken, "", "")
		if err != nil || len(got.Counts) != 1 || got.Counts[0].Count != 2 || got.Counts[0].Period != today {
			t.Fatalf("got %v, %v; want 2 active users today", got, err)
		}
		month, err := activeUsers(adminToken, "", "month")
		if err != nil || len(month.Counts) != 1 || month.Counts[0].Count != 2 || month.Counts[0].Period != today[:7] {
			t.Fatalf("month: got %v, %v", month, err)
		}
		r := connect.NewRequest(&reportv1.GetSignInsRequest{})
		as(adminToken, r)
		si, err := c.GetSignIns(ctx, r)
		if err != nil || si.Msg.Succeeded != 3 || si.Msg.Failed != 1 || len(si.Msg.SignIns) != 1 || si.Msg.SignIns[0].ClientId != "" {
			t.Fatalf("sign-ins: %v, %v", si, err)
		}
	})
	t.Run("ok/organization administrator reads its organization", func(t *testing.T) {
		got, err := activeUsers(otherToken, other, "day")
		if err != nil || got.Counts[0].Count != 1 {
			t.Fatalf("got %v, %v; want its one active user", got, err)
		}
		r := connect.NewRequest(&reportv1.GetNewUsersRequest{OrganizationId: other, From: today, To: today})
		as(otherToken, r)
		nu, err := c.GetNewUsers(ctx, r)
		if err != nil || nu.Msg.Counts[0].Count != 2 {
			t.Fatalf("new users: %v, %v", nu, err)
		}
		m := connect.NewRequest(&reportv1.GetMFAAdoptionRequest{OrganizationId: other, From: today, To: today})
		as(otherToken, m)
		mfa, err := c.GetMFAAdoption(ctx, m)
		if err != nil || mfa.Msg.Current.Users != 2 || mfa.Msg.Current.MfaUsers != 0 || len(mfa.Msg.Days) != 1 || mfa.Msg.Days[0].Users != 2 {
			t.Fatalf("MFA adoption: %v, %v", mfa, err)
		}
	})

	// What an attacker tries: another organization's figures (existing or
	// not: the same answer), the instance's, and callers without
	// report.read.
	for _, tc := range []struct {
		name, token, orgID string
		want               connect.Code
	}{
		{"fail/organization administrator asks for another organization", otherToken, env.OrgID, connect.CodePermissionDenied},
		{"fail/organization administrator asks for an organization that does not exist", otherToken, "no-such-org", connect.CodePermissionDenied},
		{"fail/organization administrator asks for the whole instance", otherToken, "", connect.CodePermissionDenied},
		{"fail/a viewer of the organization lacks report.read", env.Token(t, viewer, env.OrgID), env.OrgID, connect.CodePermissionDenied},
		{"fail/a user without roles", env.Token(t, plain, other), other, connect.CodePermissionDenied},
		{"fail/nobody", "", env.OrgID, connect.CodeUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, call := range []func() error{
				func() error { _, err := activeUsers(tc.token, tc.orgID, ""); return err },
				func() error {
					r := connect.NewRequest(&reportv1.GetSignInsRequest{OrganizationId: tc.orgID})
					as(tc.token, r)
					_, err := c.GetSignIns(ctx, r)
					return err
				},
				func() error {
					r := connect.NewRequest(&reportv1.GetNewUsersRequest{OrganizationId: tc.orgID})
					as(tc.token, r)
					_, err := c.GetNewUsers(ctx, r)
					return err
				},
				func() error {
					r := connect.NewRequest(&reportv1.GetMFAAdoptionRequest{OrganizationId: tc.orgID})
					as(tc.token, r)
					_, err := c.GetMFAAdoption(ctx, r)
					return err
				},
			} {
				if err := call(); connect.CodeOf(err) != tc.want {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			}
		})
	}
	t.Run("fail/the answer for a missing organization is the one for a foreign one", func(t *testing.T) {
		_, foreign := activeUsers(otherToken, env.OrgID, "")
		_, missing := activeUsers(otherToken, "no-such-org", "")
		mask := func(err error, id string) string { return strings.ReplaceAll(err.Error(), id, "ID") }
		if mask(foreign, env.OrgID) != mask(missing, "no-such-org") {
			t.Fatalf("%v\n%v", foreign, missing)
		}
	})

	for _, tc := range []struct {
		name, query, field string
	}{
		{"fail/not a day", "from=2026-13-01", "from"},
		{"fail/to before from", "from=2026-03-02&to=2026-03-01", "to"},
		{"fail/more than 400 days", "from=2025-01-01&to=2026-03-01", "from"},
		{"fail/unknown granularity", "granularity=week", "granularity"},
		{"fail/the instance's totals are asked for without an organization", "organizationId=*", "organizationId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, env, adminToken, "/v1/reports/active_users?"+tc.query)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.field) {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	t.Run("ok/REST", func(t *testing.T) {
		code, body := get(t, env, otherToken, "/v1/reports/sign_ins?organizationId="+other+"&from="+today+"&to="+today)
		var got struct {
			SignIns []struct {
				Day       string `json:"day"`
				Succeeded string `json:"succeeded"`
			} `json:"signIns"`
			Succeeded string `json:"succeeded"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.Succeeded != "1" || len(got.SignIns) != 1 || got.SignIns[0].Day != today {
			t.Fatalf("%d %s", code, body)
		}
		if code, _ := get(t, env, otherToken, "/v1/reports/mfa_adoption?organizationId="+env.OrgID); code != http.StatusForbidden {
			t.Fatalf("another organization over REST: %d", code)
		}
	})
}

func get(t *testing.T, env *apitest.Env, token, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", apitest.Bearer(token))
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// catchUp lets the report read the whole log; on PostgreSQL a
// transaction elsewhere in the cluster may hold the newest events back
// for a moment.
func catchUp(t *testing.T, env *apitest.Env) {
	t.Helper()
	all, err := env.App.Store.Query(ctx, eventstore.Filter{AllInstances: true, EventTypes: report.EventTypes()})
	if err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1].Position
	r := env.App.Reports()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := r.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := env.App.Store.Checkpoint(ctx, report.SubscriptionName)
		if err != nil {
			t.Fatal(err)
		}
		if got == last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report reached %v, not %v", got, last)
		}
	}
}
