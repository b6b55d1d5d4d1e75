package sessionapi_test

import (
	"slices"
	"testing"

	"connectrpc.com/connect"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
)

// The settings in force decide what a session needs: MFA for everyone,
// a password that must be changed, telling a locked user so, and sign-in
// methods an organization does not allow.
func TestSessionsFollowTheSettings(t *testing.T) { dbtest.Each(t, testSessionsFollowTheSettings) }

func testSessionsFollowTheSettings(t *testing.T, src dbtest.Source) {
	e := startOn(t, src)
	alice := createUser(t, e.Env, e.OrgID, "human", "alice")
	sets := settings.NewCommands(e.App.Store)
	set := func(orgID string, v settings.Value) {
		t.Helper()
		if err := sets.Set(ctx, eventstore.SystemEditor, e.InstanceID, orgID, v); err != nil {
			t.Fatal(err)
		}
	}
	signIn := func(login, pw string) (*sessionv1.Session, string, error) {
		res, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks(login, pw)}))
		if err != nil {
			return nil, "", err
		}
		return res.Msg.GetSession(), res.Msg.GetSessionToken(), nil
	}

	// MFA for everyone: a password alone asks for a second factor.
	login := settings.BuiltIn().Login
	login.MFARequired = settings.MFAEveryone
	set(e.OrgID, login)
	s, _, err := signIn("alice", goodPassword)
	if err != nil || s.GetAuthenticated() || !slices.Equal(s.GetNext(), []string{"register_second_factor"}) {
		t.Fatalf("MFA for everyone: %v %v", s, err)
	}
	if err := sets.Reset(ctx, eventstore.SystemEditor, e.InstanceID, e.OrgID, settings.GroupLogin); err != nil {
		t.Fatal(err)
	}

	// A password set by an administrator must be changed: the session
	// says so, and the login changes it.
	aliceAgg := eventstore.Aggregate{InstanceID: e.InstanceID, Type: user.AggregateType, ID: alice, Owner: e.OrgID}
	if err := e.App.UserCommands().Credentials().SetPassword(ctx, eventstore.SystemEditor, aliceAgg, "set by the admin 1", true); err != nil {
		t.Fatal(err)
	}
	s, token, err := signIn("alice", "set by the admin 1")
	if err != nil || s.GetAuthenticated() || !slices.Equal(s.GetNext(), []string{"change_password"}) {
		t.Fatalf("a password to change: %v %v", s, err)
	}
	if _, err := e.c.ChangeSessionPassword(ctx, as(e.login, &sessionv1.ChangeSessionPasswordRequest{SessionId: s.GetId(), SessionToken: token, NewPassword: "short"})); code(err) != connect.CodeInvalidArgument {
		t.Fatalf("a too short new password: %v", err)
	}
	changed, err := e.c.ChangeSessionPassword(ctx, as(e.login, &sessionv1.ChangeSessionPasswordRequest{SessionId: s.GetId(), SessionToken: token, NewPassword: goodPassword}))
	if err != nil || !changed.Msg.GetSession().GetAuthenticated() {
		t.Fatalf("after changing it: %v %v", changed, err)
	}
	// Without a password check, no change.
	step, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{
		User: &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: "alice"}}}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ChangeSessionPassword(ctx, as(e.login, &sessionv1.ChangeSessionPasswordRequest{SessionId: step.Msg.GetSession().GetId(),
		SessionToken: step.Msg.GetSessionToken(), NewPassword: "another good password"})); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("a change without the current password: %v", err)
	}

	// An organization that allows no password: the answer of a wrong one.
	login = settings.BuiltIn().Login
	login.AllowedAuthenticators = []string{settings.AuthPasskey}
	login.PasswordlessAllowed = true
	set(e.OrgID, login)
	if _, _, err := signIn("alice", goodPassword); code(err) != connect.CodeUnauthenticated || message(err) != "the login name or password is wrong" {
		t.Fatalf("a password where none is allowed: %v", err)
	}
	if err := sets.Reset(ctx, eventstore.SystemEditor, e.InstanceID, e.OrgID, settings.GroupLogin); err != nil {
		t.Fatal(err)
	}

	// A locked user is told so only when the settings say.
	if err := user.NewCommands(e.App.Store, e.App.Hasher).Lock(ctx, eventstore.SystemEditor, e.InstanceID, alice); err != nil {
		t.Fatal(err)
	}
	if _, _, err := signIn("alice", goodPassword); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("locked, not told: %v", err)
	}
	lockout := settings.BuiltIn().Lockout
	lockout.ShowLocked = true
	set(e.OrgID, lockout)
	if _, _, err := signIn("alice", goodPassword); code(err) != connect.CodeFailedPrecondition {
		t.Fatalf("locked, told: %v", err)
	}
}
