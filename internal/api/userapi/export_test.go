package userapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/gen/castellan/event/v1/eventv1connect"
	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/eventapi"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	oauthclient "github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/portability"
	"github.com/castellan-iam/castellan/internal/session"
)

func startExport(t testing.TB, src dbtest.Source) *apitest.Env {
	return apitest.StartOn(t, src, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{
			userapi.NewService(a.Store, a.UserCommands(), auth, a.Keys, sent.send),
			userapi.NewAuthenticatorService(a.Store, a.UserCommands(), auth, a.Keys, nil, nil),
			userapi.NewExportService(a.Store, auth),
			eventapi.NewService(a.Store, auth),
		}
	})
}

// getJSON GETs a REST path as token and returns the status and body.
func getJSON(t testing.TB, env *apitest.Env, token, path string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", apitest.Bearer(token))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestExportHoldsAUsersDataAndNoSecret: a user with a password, a TOTP,
// recovery codes, a session, an administrator role, an authorization of
// its own and one through a group exports its data; the document holds
// all of it, the events of the account described in the language asked
// for, and none of the secrets the event store and the read models keep
// (every credential field of every event of the user and its session,
// and the password hash). The export is recorded as an event naming who
// exported whom.
func TestExportHoldsAUsersDataAndNoSecret(t *testing.T) {
	dbtest.Each(t, testExportHoldsAUsersDataAndNoSecret)
}

func testExportHoldsAUsersDataAndNoSecret(t *testing.T, src dbtest.Source) {
	env := startExport(t, src)
	a := env.App
	alice := createUser(t, env, env.OrgID, "human", "alice")
	aliceToken := env.Token(t, alice, env.OrgID)
	authc := userv1connect.NewAuthenticatorServiceClient(env.Client, env.URL)
	totp, err := authc.AddMyTOTP(ctx, as(aliceToken, &userv1.AddMyTOTPRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	codes, err := authc.GenerateMyRecoveryCodes(ctx, as(aliceToken, &userv1.GenerateMyRecoveryCodesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	pw := "a good password 1"
	sess, sessionToken, _, err := a.Sessions().Create(ctx, env.InstanceID, session.Client{Address: "203.0.113.7", UserAgent: "ExportTest/1.0"},
		session.Checks{User: &session.UserCheck{LoginName: "alice"}, Password: &pw}, session.Challenges{})
	if err != nil {
		t.Fatal(err)
	}
	env.GrantOrg(t, env.OrgID, alice, "org.viewer")
	p, err := oauthclient.NewCommands(a.Store, a.Keys, nil).CreateProject(ctx, eventstore.SystemEditor, env.InstanceID, env.OrgID, "Portal")
	if err != nil {
		t.Fatal(err)
	}
	access := project.NewCommands(a.Store)
	for _, r := range []string{"reader", "writer"} {
		if err := access.AddRole(ctx, eventstore.SystemEditor, env.InstanceID, p.ID, project.Role{Key: r}); err != nil {
			t.Fatal(err)
		}
	}
	own, err := access.AddAuthorization(ctx, eventstore.SystemEditor, env.InstanceID, project.Subject{UserID: alice}, p.ID, "", []string{"reader"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := group.NewCommands(a.Store).Create(ctx, eventstore.SystemEditor, env.InstanceID, env.OrgID, "Editors")
	if err != nil {
		t.Fatal(err)
	}
	if err := group.NewCommands(a.Store).AddMember(ctx, eventstore.SystemEditor, env.InstanceID, g.ID, alice, ""); err != nil {
		t.Fatal(err)
	}
	through, err := access.AddAuthorization(ctx, eventstore.SystemEditor, env.InstanceID, project.Subject{GroupID: g.ID}, p.ID, "", []string{"writer"})
	if err != nil {
		t.Fatal(err)
	}

	env.WaitSettled(t)
	status, body := getJSON(t, env, aliceToken, "/v1/me:export", "Accept-Language", "de-CH, en;q=0.5")
	if status != http.StatusOK {
		t.Fatalf("export: %d %s", status, body)
	}
	var doc struct {
		Export struct {
			Profile struct {
				ID, LoginName, OrganizationID string
			}
			Contact struct {
				Email         string
				EmailVerified bool
			}
			Authenticators struct {
				Summary struct {
					HasPassword       bool
					TotpPending       bool
					RecoveryCodesLeft int
				}
				PasswordSetTime string
			}
			Memberships []struct {
				Scope, ScopeID string
				Roles          []string
			}
			Authorizations []struct {
				ID, ProjectID, GroupID string
				Roles                  []string
			}
			Groups          []struct{ ID, Name string }
			Sessions        []struct{ ID, UserAgent, ClientAddress, CreateTime, LastSeenTime string }
			Events          []struct{ Type, Description string }
			EventsTruncated bool
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	x := doc.Export
	if x.Profile.ID != alice || x.Profile.LoginName != "alice" || x.Profile.OrganizationID != env.OrgID || x.Contact.Email != "alice@example.com" {
		t.Errorf("profile and contact: %+v %+v", x.Profile, x.Contact)
	}
	if s := x.Authenticators.Summary; !s.HasPassword || !s.TotpPending || s.RecoveryCodesLeft != 10 || x.Authenticators.PasswordSetTime == "" {
		t.Errorf("authenticators: %+v", x.Authenticators)
	}
	if len(x.Memberships) != 1 || x.Memberships[0].Scope != "org" || x.Memberships[0].ScopeID != env.OrgID || !slices.Equal(x.Memberships[0].Roles, []string{"org.viewer"}) {
		t.Errorf("memberships: %+v", x.Memberships)
	}
	var authIDs []string
	for _, au := range x.Authorizations {
		authIDs = append(authIDs, au.ID+"/"+au.GroupID+"/"+strings.Join(au.Roles, ","))
	}
	slices.Sort(authIDs)
	want := []string{own.ID + "//reader", through.ID + "/" + g.ID + "/writer"}
	slices.Sort(want)
	if !slices.Equal(authIDs, want) {
		t.Errorf("authorizations %v, want %v", authIDs, want)
	}
	if len(x.Groups) != 1 || x.Groups[0].ID != g.ID || x.Groups[0].Name != "Editors" {
		t.Errorf("groups: %+v", x.Groups)
	}
	if len(x.Sessions) != 1 || x.Sessions[0].ID != sess.ID || x.Sessions[0].UserAgent != "ExportTest/1.0" || x.Sessions[0].ClientAddress != "203.0.113.7" ||
		x.Sessions[0].CreateTime == "" || x.Sessions[0].LastSeenTime == "" {
		t.Errorf("sessions: %+v", x.Sessions)
	}
	var types []string
	for _, e := range x.Events {
		types = append(types, e.Type)
		if e.Type == "user.added" && e.Description != "Der Benutzer alice wurde angelegt." {
			t.Errorf("description of user.added: %q", e.Description)
		}
	}
	for _, w := range []string{"user.added", "user.totp.added", "user.recovery_codes.generated"} {
		if !slices.Contains(types, w) {
			t.Errorf("events %v lack %s", types, w)
		}
	}
	if x.EventsTruncated {
		t.Error("a short account's events were truncated")
	}

	// No secret: the TOTP seed and recovery codes as handed out, the
	// password hash, the session token, and every credential field of the
	// stored events of the user and its session.
	secrets := []string{totp.Msg.GetSecret(), sessionToken}
	secrets = append(secrets, codes.Msg.GetCodes()...)
	var hash string
	if err := a.DB.Reader().QueryRowContext(ctx, `SELECT password_hash FROM users WHERE instance_id = $1 AND id = $2`, env.InstanceID, alice).Scan(&hash); err != nil || hash == "" {
		t.Fatalf("password hash %q: %v", hash, err)
	}
	secrets = append(secrets, hash)
	rows, err := a.DB.Reader().QueryContext(ctx, `SELECT payload FROM events WHERE instance_id = $1 AND aggregate_id IN ($2, $3)`, env.InstanceID, alice, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, credentialValues(m)...)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(secrets) < 16 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	for _, s := range secrets {
		if len(s) >= 6 && strings.Contains(string(body), s) {
			t.Errorf("the export holds a secret: %.12s…", s)
		}
	}

	// The export is recorded, its editor the exporter, without the data.
	events, err := a.Store.Query(ctx, eventstore.Filter{InstanceID: env.InstanceID, AggregateIDs: []string{alice}, EventTypes: []string{"user.data.exported"}})
	if err != nil || len(events) != 1 || events[0].Editor.UserID != alice {
		t.Fatalf("export events %+v: %v", events, err)
	}
	if b, _ := json.Marshal(events[0].Payload); strings.Contains(string(b), "alice") || strings.Contains(string(b), "example.com") {
		t.Errorf("the export's event holds data: %s", b)
	}
}

// credentialValues collects the string values of the credential fields
// (eventapi.Sensitive) of a payload, at any depth.
func credentialValues(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if eventapi.Sensitive(k) {
				switch x := x.(type) {
				case string:
					out = append(out, x)
				case []any:
					for _, s := range x {
						if s, ok := s.(string); ok {
							out = append(out, s)
						}
					}
				}
				continue
			}
			out = append(out, credentialValues(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, credentialValues(x)...)
		}
	}
	return out
}

// TestExportIsForTheUserAndItsAdministrators: an administrator of the
// user's organization exports it (and is recorded as the exporter); an
// administrator of another organization and another user of the same
// organization get the answer of a user that does not exist; a user
// viewer without event.read is refused.
func TestExportIsForTheUserAndItsAdministrators(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := startExport(t, src)
		a := env.App
		orgB, err := org.NewCommands(a.Store, org.NewVerifier()).Create(ctx, eventstore.SystemEditor, env.InstanceID, "Globex")
		if err != nil {
			t.Fatal(err)
		}
		alice := createUser(t, env, env.OrgID, "human", "alice")
		bob := createUser(t, env, env.OrgID, "human", "bob")
		adminA := createUser(t, env, env.OrgID, "human", "admin-a")
		env.GrantOrg(t, env.OrgID, adminA, "org.owner")
		adminB := createUser(t, env, orgB, "human", "admin-b")
		env.GrantOrg(t, orgB, adminB, "org.owner")
		c := userv1connect.NewDataExportServiceClient(env.Client, env.URL)

		env.WaitSettled(t)
		r, err := c.ExportUserData(ctx, as(env.Token(t, adminA, env.OrgID), &userv1.ExportUserDataRequest{UserId: alice, Language: "en"}))
		if err != nil || r.Msg.GetExport().GetProfile().GetId() != alice {
			t.Fatalf("organization owner: %v %v", r, err)
		}
		if evs := r.Msg.GetExport().GetEvents(); len(evs) == 0 || evs[0].GetType() != "user.added" || evs[0].GetDescription() != "User alice was created." {
			t.Errorf("the first event: %v", evs)
		}
		recorded, err := a.Store.Query(ctx, eventstore.Filter{InstanceID: env.InstanceID, AggregateIDs: []string{alice}, EventTypes: []string{"user.data.exported"}})
		if err != nil || len(recorded) != 1 || recorded[0].Editor.UserID != adminA {
			t.Fatalf("recorded %+v %v", recorded, err)
		}

		// Another organization's owner: as for a user that does not exist.
		bToken := env.Token(t, adminB, orgB)
		_, err = c.ExportUserData(ctx, as(bToken, &userv1.ExportUserDataRequest{UserId: alice}))
		notFound := wantCode(t, err, connect.CodeNotFound)
		_, err = c.ExportUserData(ctx, as(bToken, &userv1.ExportUserDataRequest{UserId: "no-such-user"}))
		if nf := wantCode(t, err, connect.CodeNotFound); strings.ReplaceAll(nf.Message(), "no-such-user", alice) != notFound.Message() {
			t.Errorf("the answers differ: %q and %q", notFound.Message(), nf.Message())
		}
		// The same through REST.
		if status, body := getJSON(t, env, bToken, "/v1/users/"+alice+":export"); status != http.StatusNotFound {
			t.Errorf("REST, another organization: %d %s", status, body)
		}
		// A user exporting another: not found either.
		bobToken := env.Token(t, bob, env.OrgID)
		_, err = c.ExportUserData(ctx, as(bobToken, &userv1.ExportUserDataRequest{UserId: alice}))
		wantCode(t, err, connect.CodeNotFound)
		// A viewer reads users but not the audit trail: refused.
		viewer := createUser(t, env, env.OrgID, "human", "viewer")
		env.GrantOrg(t, env.OrgID, viewer, "org.viewer")
		_, err = c.ExportUserData(ctx, as(env.Token(t, viewer, env.OrgID), &userv1.ExportUserDataRequest{UserId: alice}))
		wantCode(t, err, connect.CodePermissionDenied)
		// Bob's own export is Bob's.
		mine, err := c.ExportMyData(ctx, as(bobToken, &userv1.ExportMyDataRequest{}))
		if err != nil || mine.Msg.GetExport().GetProfile().GetId() != bob {
			t.Fatalf("bob's own: %v %v", mine, err)
		}
		// No export of alice was recorded but the owner's.
		recorded, err = a.Store.Query(ctx, eventstore.Filter{InstanceID: env.InstanceID, AggregateIDs: []string{alice}, EventTypes: []string{"user.data.exported"}})
		if err != nil || len(recorded) != 1 {
			t.Fatalf("recorded %d, %v", len(recorded), err)
		}
		// A bad language is named.
		_, err = c.ExportMyData(ctx, as(bobToken, &userv1.ExportMyDataRequest{Language: "not a language"}))
		if ce := wantCode(t, err, connect.CodeInvalidArgument); !strings.Contains(ce.Message(), "language") {
			t.Errorf("bad language: %v", ce)
		}
		// Without a token: unauthenticated.
		_, err = c.ExportMyData(ctx, connect.NewRequest(&userv1.ExportMyDataRequest{}))
		wantCode(t, err, connect.CodeUnauthenticated)
	})
}

// TestExportIsBounded: an account with more events than an export holds
// is exported with the first portability.MaxEvents, marked truncated, and
// the rest are listed through ListEvents after the position it gives,
// without a gap or a repeat.
func TestExportIsBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env := startExport(t, src)
		alice := createUser(t, env, env.OrgID, "human", "alice")
		agg := eventstore.Aggregate{InstanceID: env.InstanceID, Type: "user", ID: alice, Owner: env.OrgID}
		const extra = 5
		for n := 1; n < portability.MaxEvents+extra; n += 1000 {
			var batch []eventstore.Payload
			for j := n; j < min(n+1000, portability.MaxEvents+extra); j++ {
				batch = append(batch, &portability.Exported{Events: j})
			}
			if _, err := env.App.Store.Push(ctx, eventstore.SystemEditor, eventstore.Append{Aggregate: agg, ExpectedSequence: eventstore.AnySequence, Events: batch}); err != nil {
				t.Fatal(err)
			}
		}
		env.WaitSettled(t)
		r, err := userv1connect.NewDataExportServiceClient(env.Client, env.URL).ExportUserData(ctx, as(env.AdminToken, &userv1.ExportUserDataRequest{UserId: alice}))
		if err != nil {
			t.Fatal(err)
		}
		x := r.Msg.GetExport()
		// The same through REST, whose transcoder buffers the message.
		status, body := getJSON(t, env, env.AdminToken, "/v1/users/"+alice+":export")
		if status != http.StatusOK || !strings.Contains(string(body), `"eventsTruncated":true`) {
			t.Fatalf("REST: %d %.300s", status, body)
		}
		t.Logf("REST export: %d bytes of JSON, %d of protobuf", len(body), proto.Size(r.Msg))
		if len(x.GetEvents()) != portability.MaxEvents || !x.GetEventsTruncated() || x.GetEventsNext() != x.GetEvents()[portability.MaxEvents-1].GetPosition() {
			t.Fatalf("%d events, truncated %v, next %q", len(x.GetEvents()), x.GetEventsTruncated(), x.GetEventsNext())
		}
		env.WaitSettled(t)
		rest, err := eventv1connect.NewEventServiceClient(env.Client, env.URL).ListEvents(ctx, as(env.AdminToken,
			&eventv1.ListEventsRequest{AggregateType: "user", AggregateId: alice, After: x.GetEventsNext()}))
		if err != nil {
			t.Fatal(err)
		}
		// The rest: the account's remaining events in sequence, the
		// export's own last.
		got := rest.Msg.GetEvents()
		if len(got) < extra+1 {
			t.Fatalf("the rest: %d events", len(got))
		}
		for i, e := range got {
			if e.GetSequence() != int64(portability.MaxEvents+1+i) {
				t.Fatalf("event %d of the rest has sequence %d", i, e.GetSequence())
			}
		}
		if last := got[len(got)-1]; last.GetType() != "user.data.exported" || !last.GetPayload().GetFields()["truncated"].GetBoolValue() {
			t.Fatalf("the last event: %v", last)
		}
	})
}

// TestExportsAreLimitedPerCaller: a caller gets 60 exports within ten
// minutes, then ResourceExhausted, while another caller still gets its
// own.
func TestExportsAreLimitedPerCaller(t *testing.T) {
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{userapi.NewExportService(a.Store, auth)}
	})
	c := userv1connect.NewDataExportServiceClient(env.Client, env.URL)
	bob := createUser(t, env, env.OrgID, "human", "bob")
	for i := range 60 {
		if _, err := c.ExportMyData(ctx, as(env.AdminToken, &userv1.ExportMyDataRequest{})); err != nil {
			t.Fatalf("export %d: %v", i+1, err)
		}
	}
	_, err := c.ExportMyData(ctx, as(env.AdminToken, &userv1.ExportMyDataRequest{}))
	wantCode(t, err, connect.CodeResourceExhausted)
	if _, err := c.ExportMyData(ctx, as(env.Token(t, bob, env.OrgID), &userv1.ExportMyDataRequest{})); err != nil {
		t.Fatalf("another caller: %v", err)
	}
}
