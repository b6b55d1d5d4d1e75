package sessionapi_test

import (
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/pquerna/otp/totp"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/user"
)

// A user with TOTP signs in with its password and a code: the password
// alone does not authenticate, a wrong or replayed code is refused, a
// recovery code works once.
func TestTOTPAndRecoveryCodes(t *testing.T) { dbtest.Each(t, testTOTPAndRecoveryCodes) }

func testTOTPAndRecoveryCodes(t *testing.T, src dbtest.Source) {
	e := startOn(t, src)
	alice := createUser(t, e.Env, e.OrgID, "human", "alice")
	agg := eventstore.Aggregate{InstanceID: e.InstanceID, Type: user.AggregateType, ID: alice, Owner: e.OrgID}
	creds := e.App.UserCommands().Credentials()
	reg, err := creds.AddTOTP(ctx, eventstore.SystemEditor, agg, "Castellan", "alice", e.App.Keys)
	if err != nil {
		t.Fatal(err)
	}
	// Activate with the code of the previous step, so that the current
	// one is still unused for the sign-in.
	first, err := totp.GenerateCode(reg.Secret, time.Now().Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.VerifyTOTP(ctx, eventstore.SystemEditor, agg, first, e.App.Keys); err != nil {
		t.Fatal(err)
	}
	recovery, err := creds.GenerateRecoveryCodes(ctx, eventstore.SystemEditor, agg)
	if err != nil {
		t.Fatal(err)
	}

	signIn := func() (*sessionv1.Session, string) {
		t.Helper()
		res, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("alice", goodPassword)}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.GetSession(), res.Msg.GetSessionToken()
	}
	s, token := signIn()
	if s.GetAuthenticated() || !slices.Contains(s.GetNext(), "totp") || !slices.Contains(s.GetNext(), "recovery_code") {
		t.Fatalf("after the password of a user with TOTP: %v", s)
	}
	set := func(id, token string, checks *sessionv1.Checks) (*sessionv1.Session, error) {
		res, err := e.c.SetSession(ctx, as(e.login, &sessionv1.SetSessionRequest{SessionId: id, SessionToken: token, Checks: checks}))
		if err != nil {
			return nil, err
		}
		return res.Msg.GetSession(), nil
	}
	if _, err := set(s.GetId(), token, &sessionv1.Checks{Totp: &sessionv1.CodeCheck{Code: "000000"}}); code(err) != connect.CodeUnauthenticated || message(err) != "the code is wrong" {
		t.Fatalf("a wrong code: %v", err)
	}
	now, err := totp.GenerateCode(reg.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if now == first {
		t.Skip("the previous and current steps have the same code")
	}
	s, err = set(s.GetId(), token, &sessionv1.Checks{Totp: &sessionv1.CodeCheck{Code: now}})
	if err != nil || !s.GetAuthenticated() || !slices.Equal(s.GetAmr(), []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("with the code: %v %v", s, err)
	}
	// The same code again, in another session: a replay.
	s2, token2 := signIn()
	if _, err := set(s2.GetId(), token2, &sessionv1.Checks{Totp: &sessionv1.CodeCheck{Code: now}}); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("a replayed code: %v", err)
	}
	if s2, err = set(s2.GetId(), token2, &sessionv1.Checks{RecoveryCode: &sessionv1.CodeCheck{Code: recovery[0]}}); err != nil || !s2.GetAuthenticated() {
		t.Fatalf("a recovery code: %v %v", s2, err)
	}
	s3, token3 := signIn()
	if _, err := set(s3.GetId(), token3, &sessionv1.Checks{RecoveryCode: &sessionv1.CodeCheck{Code: recovery[0]}}); code(err) != connect.CodeUnauthenticated {
		t.Fatalf("a used recovery code: %v", err)
	}
	// A code checked for a name that matched nobody gets the same answer.
	res, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{
		User: &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: "nobody"}}, Totp: &sessionv1.CodeCheck{Code: "123456"}}}))
	if code(err) != connect.CodeUnauthenticated || message(err) != "the code is wrong" {
		t.Fatalf("a code for nobody: %v %v", res, err)
	}
}
