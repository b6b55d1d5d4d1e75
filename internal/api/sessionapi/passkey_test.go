package sessionapi_test

import (
	"slices"
	"testing"

	"connectrpc.com/connect"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/credential/passkey/passkeytest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/user"
)

// origin is the first instance's base URL (instance.Issuer of apitest's
// external URL http://localhost and primary domain localhost): the one
// origin its relying party (passkey.FromInstance) accepts.
const origin = "http://localhost"

// registerKey registers a credential of a for the user, as the user would
// through the passkey API.
func registerKey(t *testing.T, e *env, userID, login string, a *passkeytest.Authenticator, passwordless bool) *passkeytest.Key {
	t.Helper()
	u := eventstore.Aggregate{InstanceID: e.InstanceID, Type: user.AggregateType, ID: userID, Owner: e.OrgID}
	pk := e.App.Passkeys()
	cid, opts, err := pk.BeginRegistration(ctx, u, passkey.UserInfo{ID: userID, LoginName: login}, passwordless)
	if err != nil {
		t.Fatal(err)
	}
	resp, key, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pk.FinishRegistration(ctx, eventstore.Editor{UserID: userID}, u, cid, "", resp); err != nil {
		t.Fatal(err)
	}
	return key
}

// challenge asks the session for a WebAuthn challenge and returns its
// options.
func challenge(t *testing.T, e *env, id, token string) []byte {
	t.Helper()
	res, err := e.c.SetSession(ctx, as(e.login, &sessionv1.SetSessionRequest{SessionId: id, SessionToken: token,
		Challenges: &sessionv1.Challenges{WebAuthn: &sessionv1.WebAuthnChallenge{}}}))
	if err != nil {
		t.Fatal(err)
	}
	opts := res.Msg.GetChallenges().GetWebAuthnOptions()
	if len(opts) == 0 {
		t.Fatal("no WebAuthn options")
	}
	return opts
}

func checkAssertion(e *env, id, token string, assertion []byte) (*connect.Response[sessionv1.SetSessionResponse], error) {
	return e.c.SetSession(ctx, as(e.login, &sessionv1.SetSessionRequest{SessionId: id, SessionToken: token,
		Checks: &sessionv1.Checks{WebAuthn: &sessionv1.WebAuthnCheck{CredentialAssertionData: assertion}}}))
}

func hasAll(list []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

func webAuthnFactor(s *sessionv1.Session) *sessionv1.Factor {
	for _, f := range s.GetFactors() {
		if f.GetKind() == "webauthn" {
			return f
		}
	}
	return nil
}

// TestPasswordlessSession: a passkey alone signs its user in — the session
// starts without naming anyone, the authenticator picks the credential and
// its user handle names the user.
func TestPasswordlessSession(t *testing.T) {
	e := start(t)
	alice := createUser(t, e.Env, e.OrgID, "human", "alice")
	phone := &passkeytest.Authenticator{Origin: origin, UV: true, Synced: true}
	registerKey(t, e, alice, "alice", phone, true)

	created, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{
		Challenges: &sessionv1.Challenges{WebAuthn: &sessionv1.WebAuthnChallenge{UserVerification: "required"}}}))
	if err != nil {
		t.Fatal(err)
	}
	id, token := created.Msg.GetSession().GetId(), created.Msg.GetSessionToken()
	if s := created.Msg.GetSession(); s.GetAuthenticated() || s.GetUserId() != "" {
		t.Fatalf("a session without checks: %v", s)
	}
	assertion, err := phone.Get(created.Msg.GetChallenges().GetWebAuthnOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := checkAssertion(e, id, token, assertion)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Msg.GetSession()
	// The AMR (RFC 8176) name a hardware key that verified the user — two
	// factors in one — and no password.
	if !s.GetAuthenticated() || s.GetUserId() != alice || s.GetOrganizationId() != e.OrgID || !hasAll(s.GetAmr(), "hwk", "user", "mfa") || slices.Contains(s.GetAmr(), "pwd") {
		t.Fatalf("after the passkey: %v", s)
	}
	if f := webAuthnFactor(s); f == nil || !f.GetPasswordless() || !f.GetUserVerified() || f.GetVerifyTime() == nil {
		t.Fatalf("factor %v", f)
	}

	// The same assertion again, on the spent ceremony, proves nothing.
	_, err = checkAssertion(e, id, token, assertion)
	if err == nil {
		t.Fatal("a replayed assertion was accepted")
	}
}

// TestPasskeyAsSecondFactor: a user with a security key signs in with its
// password, is asked for the key, and is signed in by its assertion.
func TestPasskeyAsSecondFactor(t *testing.T) {
	e := start(t)
	bob := createUser(t, e.Env, e.OrgID, "human", "bob")
	key := &passkeytest.Authenticator{Origin: origin}
	registerKey(t, e, bob, "bob", key, false)

	created, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("bob", goodPassword)}))
	if err != nil {
		t.Fatal(err)
	}
	id, token := created.Msg.GetSession().GetId(), created.Msg.GetSessionToken()
	if s := created.Msg.GetSession(); s.GetAuthenticated() || s.GetUserId() != bob || !slices.Contains(s.GetNext(), "webauthn") {
		t.Fatalf("after the password: %v", s)
	}
	opts := challenge(t, e, id, token)
	assertion, err := key.Get(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := checkAssertion(e, id, token, assertion)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Msg.GetSession()
	if !s.GetAuthenticated() || s.GetUserId() != bob || !hasAll(s.GetAmr(), "pwd", "hwk", "mfa") || len(s.GetNext()) != 0 {
		t.Fatalf("after the key: %v", s)
	}
	if f := webAuthnFactor(s); f == nil || f.GetPasswordless() || f.GetUserVerified() {
		t.Fatalf("factor %v", f)
	}

	// A replayed assertion is refused: on the same session, whose ceremony
	// is spent, and on a new session, whose challenge it does not answer.
	if _, err := checkAssertion(e, id, token, assertion); err == nil {
		t.Fatal("a replayed assertion was accepted")
	}
	again, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("bob", goodPassword)}))
	if err != nil {
		t.Fatal(err)
	}
	id2, token2 := again.Msg.GetSession().GetId(), again.Msg.GetSessionToken()
	challenge(t, e, id2, token2)
	_, err = checkAssertion(e, id2, token2, assertion)
	if code(err) != connect.CodeUnauthenticated {
		t.Fatalf("replayed on a new challenge: %v", err)
	}
	got, err := e.c.GetSession(ctx, as(e.login, &sessionv1.GetSessionRequest{SessionId: id2, SessionToken: token2}))
	if err != nil || got.Msg.GetSession().GetAuthenticated() || webAuthnFactor(got.Msg.GetSession()) != nil {
		t.Fatalf("after the replay: %v %v", got, err)
	}
}

// TestAnotherUsersKeyIsRefused: a session whose user is named, or proven,
// is not advanced by the credential of someone else.
func TestAnotherUsersKeyIsRefused(t *testing.T) {
	e := start(t)
	alice := createUser(t, e.Env, e.OrgID, "human", "alice")
	bob := createUser(t, e.Env, e.OrgID, "human", "bob")
	alicesPhone := &passkeytest.Authenticator{Origin: origin, UV: true}
	aliceKey := registerKey(t, e, alice, "alice", alicesPhone, true)
	registerKey(t, e, bob, "bob", &passkeytest.Authenticator{Origin: origin}, false)

	// Bob proved his password; Alice's key answers the challenge.
	created, err := e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{Checks: passwordChecks("bob", goodPassword)}))
	if err != nil {
		t.Fatal(err)
	}
	id, token := created.Msg.GetSession().GetId(), created.Msg.GetSessionToken()
	assertion, err := alicesPhone.Get(challenge(t, e, id, token), aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = checkAssertion(e, id, token, assertion)
	if code(err) != connect.CodeUnauthenticated {
		t.Fatalf("Alice's key on Bob's session: %v", err)
	}
	got, err := e.c.GetSession(ctx, as(e.login, &sessionv1.GetSessionRequest{SessionId: id, SessionToken: token}))
	if s := got.Msg.GetSession(); err != nil || s.GetAuthenticated() || s.GetUserId() != bob || webAuthnFactor(s) != nil {
		t.Fatalf("after Alice's key: %v %v", s, err)
	}

	// Bob is only named: the challenge is discoverable, and Alice's passkey
	// — valid, her own — still does not sign Bob's session in.
	created, err = e.c.CreateSession(ctx, as(e.login, &sessionv1.CreateSessionRequest{
		Checks: &sessionv1.Checks{User: &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: "bob"}}}}))
	if err != nil {
		t.Fatal(err)
	}
	id, token = created.Msg.GetSession().GetId(), created.Msg.GetSessionToken()
	if assertion, err = alicesPhone.Get(challenge(t, e, id, token), nil); err != nil {
		t.Fatal(err)
	}
	_, err = checkAssertion(e, id, token, assertion)
	if code(err) != connect.CodeUnauthenticated {
		t.Fatalf("Alice's passkey on a session naming Bob: %v", err)
	}
	got, err = e.c.GetSession(ctx, as(e.login, &sessionv1.GetSessionRequest{SessionId: id, SessionToken: token}))
	if s := got.Msg.GetSession(); err != nil || s.GetAuthenticated() || s.GetUserId() == alice {
		t.Fatalf("after Alice's passkey: %v %v", s, err)
	}
}
