package sessionapi_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"connectrpc.com/connect"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/gen/castellan/session/v1/sessionv1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/sessionapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

var ctx = context.Background()

const goodPassword = "a good password 1"

type env struct {
	*apitest.Env
	c sessionv1connect.SessionServiceClient
	// login is the token of a login client (instance.login_client).
	login string
}

func start(t *testing.T) *env { return startOn(t, nil) }

// startOn runs the service on src, or on SQLite when src is nil.
func startOn(t *testing.T, src dbtest.Source) *env {
	services := func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{sessionapi.NewService(a.Store, a.Sessions(), auth, a.AuthRequests(), a.Consents())}
	}
	var e *apitest.Env
	if src == nil {
		e = apitest.Start(t, services)
	} else {
		e = apitest.StartOn(t, src, services)
	}
	loginID := createUser(t, e, e.OrgID, "machine", "login-client")
	if err := member.NewCommands(e.App.Store).SetInstanceMember(ctx, eventstore.SystemEditor, e.InstanceID, loginID, []string{"instance.login_client"}); err != nil {
		t.Fatal(err)
	}
	return &env{Env: e, c: sessionv1connect.NewSessionServiceClient(e.Client, e.URL), login: e.Token(t, loginID, e.OrgID)}
}

func createUser(t *testing.T, e *apitest.Env, orgID, typ, login string) string {
	t.Helper()
	n := user.New{OrgID: orgID, Type: typ, LoginName: login}
	if typ == "machine" {
		n.Traits = []byte(`{"name":"` + login + `"}`)
	} else {
		n.Password, n.Email = goodPassword, login+"@example.com"
	}
	id, err := user.NewCommands(e.App.Store, e.App.Hasher).Create(ctx, eventstore.SystemEditor, e.InstanceID, n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func as[T any](token string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", apitest.Bearer(token))
	r.Header().Set("User-Agent", "session-test/1.0")
	return r
}

func code(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return 0
}

func message(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return ""
}

func passwordChecks(login, pw string) *sessionv1.Checks {
	return &sessionv1.Checks{
		User:     &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: login}},
		Password: &sessionv1.PasswordCheck{Password: pw},
	}
}

func TestPasswordSession(t *testing.T) { dbtest.Each(t, testPasswordSession) }

func testPasswordSession(t *testing.T, src dbtest.Source) {
	e := startOn(t, src)
	alice := createUser(t, e.Env, e.OrgID, "human", "alice")

	res, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("Alice", goodPassword)}))
	if err != nil {
		t.Fatal(err)
	}
	s, token := res.Msg.GetSession(), res.Msg.GetSessionToken()
	if !s.GetAuthenticated() || s.GetUserId() != alice || s.GetOrganizationId() != e.OrgID || !slices.Equal(s.GetAmr(), []string{"pwd"}) || len(token) < 40 {
		t.Fatalf("session after a good password: %v token %q", s, token)
	}
	var kinds []string
	for _, f := range s.GetFactors() {
		kinds = append(kinds, f.GetKind())
	}
	if !slices.Contains(kinds, "user") || !slices.Contains(kinds, "password") {
		t.Fatalf("factors %v", kinds)
	}

	got, err := e.c.GetSession(ctx, as(e.login, &sessionv1.GetSessionRequest{SessionId: s.GetId(), SessionToken: token}))
	if err != nil || got.Msg.GetSession().GetUserId() != alice {
		t.Fatalf("get with the token: %v %v", got, err)
	}
	if _, err := e.c.GetSession(ctx, as(e.login, &sessionv1.GetSessionRequest{SessionId: s.GetId(), SessionToken: token + "x"})); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("get with a wrong token: %v", err)
	}
	if _, err := e.c.SetSession(ctx, as(e.login, &sessionv1.SetSessionRequest{SessionId: s.GetId(), SessionToken: "css_wrong",
		Checks: &sessionv1.Checks{Password: &sessionv1.PasswordCheck{Password: goodPassword}}})); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("set with a wrong token: %v", err)
	}

	// Step by step: the user first, then the password.
	step, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{
		User: &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: "alice"}}}}))
	if err != nil {
		t.Fatal(err)
	}
	if st := step.Msg.GetSession(); st.GetAuthenticated() || st.GetUserId() != "" || !slices.Contains(st.GetNext(), "password") {
		t.Fatalf("after the user check alone: %v", st)
	}
	set, err := e.c.SetSession(ctx, as(e.login, &sessionv1.SetSessionRequest{SessionId: step.Msg.GetSession().GetId(), SessionToken: step.Msg.GetSessionToken(),
		Checks: &sessionv1.Checks{Password: &sessionv1.PasswordCheck{Password: goodPassword}}}))
	if err != nil || !set.Msg.GetSession().GetAuthenticated() {
		t.Fatalf("password after user: %v %v", set, err)
	}

	// The user lists and ends its sessions.
	mine := e.Token(t, alice, e.OrgID)
	list, err := e.c.ListMySessions(ctx, as(mine, &sessionv1.ListMySessionsRequest{}))
	if err != nil || len(list.Msg.GetSessions()) != 2 || list.Msg.GetSessions()[0].GetUserAgent() != "session-test/1.0" {
		t.Fatalf("my sessions: %v %v", list, err)
	}
	if _, err := e.c.DeleteMySession(ctx, as(mine, &sessionv1.DeleteMySessionRequest{SessionId: s.GetId()})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetSession(ctx, as(e.login, &sessionv1.GetSessionRequest{SessionId: s.GetId(), SessionToken: token})); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("an ended session: %v", err)
	}
	// The login signs out the other.
	if _, err := e.c.DeleteSession(ctx, as(e.login, &sessionv1.DeleteSessionRequest{SessionId: step.Msg.GetSession().GetId(), SessionToken: step.Msg.GetSessionToken()})); err != nil {
		t.Fatal(err)
	}
	all, err := e.c.ListSessions(ctx, as(e.AdminToken, &sessionv1.ListSessionsRequest{UserId: alice}))
	if err != nil || len(all.Msg.GetSessions()) != 0 {
		t.Fatalf("sessions after both ended: %v %v", all, err)
	}
}

// Every reason a password sign-in can fail gets the same answer, so that
// a login name cannot be probed.
func TestSignInFailuresLookAlike(t *testing.T) { dbtest.Each(t, testSignInFailuresLookAlike) }

func testSignInFailuresLookAlike(t *testing.T, src dbtest.Source) {
	e := startOn(t, src)
	createUser(t, e.Env, e.OrgID, "human", "alice")
	locked := createUser(t, e.Env, e.OrgID, "human", "locked")
	users := user.NewCommands(e.App.Store, e.App.Hasher)
	if err := users.Lock(ctx, eventstore.SystemEditor, e.InstanceID, locked); err != nil {
		t.Fatal(err)
	}
	inactive := createUser(t, e.Env, e.OrgID, "human", "inactive")
	if err := users.Deactivate(ctx, eventstore.SystemEditor, e.InstanceID, inactive); err != nil {
		t.Fatal(err)
	}
	other, err := org.NewCommands(e.App.Store, nil).Create(ctx, eventstore.SystemEditor, e.InstanceID, "Other")
	if err != nil {
		t.Fatal(err)
	}
	createUser(t, e.Env, other, "human", "suspended")
	if err := org.NewCommands(e.App.Store, nil).Deactivate(ctx, eventstore.SystemEditor, e.InstanceID, other); err != nil {
		t.Fatal(err)
	}
	createUser(t, e.Env, e.OrgID, "machine", "robot")

	cases := map[string]*sessionv1.Checks{
		"wrong password":         passwordChecks("alice", "not the password"),
		"unknown login name":     passwordChecks("nobody", goodPassword),
		"locked user":            passwordChecks("locked", goodPassword),
		"deactivated user":       passwordChecks("inactive", goodPassword),
		"deactivated org's user": passwordChecks("suspended", goodPassword),
		"machine":                passwordChecks("robot", goodPassword),
	}
	for name, checks := range cases {
		_, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: checks}))
		if code(err) != connect.CodeUnauthenticated || message(err) != "the login name or password is wrong" {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A user check alone shows the same session for a known and an
	// unknown name.
	shape := func(login string) *sessionv1.Session {
		res, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{
			User: &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: login}}}}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetSession()
	}
	known, unknown := shape("alice"), shape("nobody")
	if known.GetUserId() != "" || unknown.GetUserId() != "" || !slices.Equal(known.GetNext(), unknown.GetNext()) || known.GetAuthenticated() {
		t.Fatalf("known %v\nunknown %v", known, unknown)
	}
}

// Wrong passwords through sessions count towards the lock, and a locked
// user cannot sign in even with the right password.
func TestWrongPasswordsLockTheUser(t *testing.T) { dbtest.Each(t, testWrongPasswordsLockTheUser) }

func testWrongPasswordsLockTheUser(t *testing.T, src dbtest.Source) {
	e := startOn(t, src)
	alice := createUser(t, e.Env, e.OrgID, "human", "alice")
	for range 10 {
		if _, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("alice", "wrong password!")})); code(err) != connect.CodeUnauthenticated {
			t.Fatal(err)
		}
	}
	st, err := user.StandingOf(ctx, e.App.DB, e.InstanceID, alice)
	if err != nil || !st.Locked {
		t.Fatalf("after 10 wrong passwords: %+v %v", st, err)
	}
	if _, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("alice", goodPassword)})); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("a locked user with the right password: %v", err)
	}
}

func TestSessionPermissions(t *testing.T) { dbtest.Each(t, testSessionPermissions) }

func testSessionPermissions(t *testing.T, src dbtest.Source) {
	e := startOn(t, src)
	alice := createUser(t, e.Env, e.OrgID, "human", "alice")
	manager := createUser(t, e.Env, e.OrgID, "human", "manager")
	e.GrantOrg(t, e.OrgID, manager, "org.user_manager")
	managerToken := e.Token(t, manager, e.OrgID)
	aliceToken := e.Token(t, alice, e.OrgID)

	// Only a login creates sessions.
	for name, token := range map[string]string{"user": aliceToken, "user manager": managerToken} {
		if _, err := e.c.CreateSession(ctx, as(token, &sessionv1.CreateSessionRequest{Checks: passwordChecks("alice", goodPassword)})); code(err) != connect.CodePermissionDenied {
			t.Errorf("%s creates a session: %v", name, err)
		}
	}
	adminSession, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("admin", "admin-password-1")}))
	if err != nil {
		t.Fatal(err)
	}
	aliceSession, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("alice", goodPassword)}))
	if err != nil {
		t.Fatal(err)
	}
	// A user manager reads and ends alice's session, but not the owner's.
	if _, err := e.c.GetSession(ctx, as(managerToken, &sessionv1.GetSessionRequest{SessionId: aliceSession.Msg.GetSession().GetId()})); err != nil {
		t.Fatalf("manager reads alice's session: %v", err)
	}
	if _, err := e.c.DeleteSession(ctx, as(managerToken, &sessionv1.DeleteSessionRequest{SessionId: adminSession.Msg.GetSession().GetId()})); code(err) != connect.CodePermissionDenied {
		t.Fatalf("manager ends the owner's session: %v", err)
	}
	if _, err := e.c.DeleteSession(ctx, as(managerToken, &sessionv1.DeleteSessionRequest{SessionId: aliceSession.Msg.GetSession().GetId()})); err != nil {
		t.Fatalf("manager ends alice's session: %v", err)
	}
	// Alice cannot see or end another's session, nor tell it exists.
	if _, err := e.c.GetSession(ctx, as(aliceToken, &sessionv1.GetSessionRequest{SessionId: adminSession.Msg.GetSession().GetId()})); code(err) != connect.CodeNotFound {
		t.Fatalf("alice reads the owner's session: %v", err)
	}
	if _, err := e.c.DeleteMySession(ctx, as(aliceToken, &sessionv1.DeleteMySessionRequest{SessionId: adminSession.Msg.GetSession().GetId()})); code(err) != connect.CodeNotFound {
		t.Fatalf("alice ends the owner's session: %v", err)
	}
	if _, err := e.c.ListSessions(ctx, as(aliceToken, &sessionv1.ListSessionsRequest{UserId: e.AdminID})); code(err) != connect.CodeNotFound {
		t.Fatalf("alice lists the owner's sessions: %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	e := start(t)
	for name, req := range map[string]*sessionv1.CreateSessionRequest{
		"checks.user":                          {Checks: &sessionv1.Checks{User: &sessionv1.UserCheck{}}},
		"checks.password.password":             {Checks: passwordChecks("alice", "")},
		"checks.totp.code":                     {Checks: &sessionv1.Checks{Totp: &sessionv1.CodeCheck{Code: string(make([]byte, 100))}}},
		"challenges.webAuthn.userVerification": {Challenges: &sessionv1.Challenges{WebAuthn: &sessionv1.WebAuthnChallenge{UserVerification: "always"}}},
	} {
		_, err := e.c.CreateSession(ctx, as(e.login, req))
		if code(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{Password: &sessionv1.PasswordCheck{Password: goodPassword}}})); code(err) != connect.CodeFailedPrecondition {
		t.Errorf("a password without a user: %v", err)
	}
}

// TestABusyHasherRefusesBeforeTheToken: with the password queue full, a
// password check is refused as unavailable before its caller's token is
// read (a storm's refusals cost no database read); a request without a
// password is not held up by it.
func TestABusyHasherRefusesBeforeTheToken(t *testing.T) {
	e := start(t)
	for {
		_, done, err := e.App.Hasher.Reserve(ctx)
		if err != nil {
			break
		}
		t.Cleanup(done)
	}
	if _, err := e.c.CreateSession(ctx, as("not-a-token", &sessionv1.CreateSessionRequest{Checks: passwordChecks("alice", goodPassword)})); code(err) != connect.CodeUnavailable {
		t.Fatalf("a password check with the queue full: %v", err)
	}
	if _, err := e.c.CreateSession(ctx, as("not-a-token", &sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{User: &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: "alice"}}}})); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("a user check with a bad token and the queue full: %v", err)
	}
}
