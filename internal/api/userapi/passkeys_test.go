package userapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/credential/passkey/passkeytest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/notify"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// origin is the first instance's base URL in apitest (external URL
// http://localhost, primary domain localhost): the one origin its relying
// party accepts.
const origin = "http://localhost"

// startPasskeys runs the passkey service with the server's relying party,
// telling users through mail.
func startPasskeys(t *testing.T, mail notify.Notifier) (*apitest.Env, userv1connect.PasskeyServiceClient) {
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{userapi.NewPasskeyService(a.Store, auth, a.Passkeys(), everywhere(mail), a.Log)}
	})
	return env, userv1connect.NewPasskeyServiceClient(env.Client, env.URL)
}

// registerPasskey runs a whole registration with a as the holder of token.
func registerPasskey(t *testing.T, c userv1connect.PasskeyServiceClient, token string, a *passkeytest.Authenticator, passwordless bool, name string) (*userv1.Passkey, *passkeytest.Key) {
	t.Helper()
	started, err := c.StartMyPasskeyRegistration(ctx, as(token, &userv1.StartMyPasskeyRegistrationRequest{Passwordless: passwordless}))
	if err != nil {
		t.Fatal(err)
	}
	resp, key, err := a.Create(started.Msg.GetPublicKeyCredentialCreationOptions())
	if err != nil {
		t.Fatal(err)
	}
	finished, err := c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{
		CeremonyId: started.Msg.GetCeremonyId(), Name: name, PublicKeyCredential: resp}))
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	return finished.Msg.GetPasskey(), key
}

func TestMyPasskeys(t *testing.T) {
	mail := &notify.Recorder{}
	env, c := startPasskeys(t, mail)
	ada := createPerson(t, env, "ada")
	token := env.Token(t, ada, env.OrgID)

	// The options name the instance as relying party and the caller as
	// user, and ask for a second factor.
	started, err := c.StartMyPasskeyRegistration(ctx, as(token, &userv1.StartMyPasskeyRegistrationRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		PublicKey struct {
			RP                     struct{ ID, Name string }
			User                   struct{ Name string }
			AuthenticatorSelection struct{ ResidentKey, UserVerification string }
		}
	}
	if err := json.Unmarshal(started.Msg.GetPublicKeyCredentialCreationOptions(), &opts); err != nil {
		t.Fatal(err)
	}
	if p := opts.PublicKey; p.RP.ID != "localhost" || p.RP.Name != "Test" || p.User.Name != "ada" || p.AuthenticatorSelection.ResidentKey == "required" {
		t.Fatalf("creation options %+v", p)
	}

	// A response from another origin does not verify, and spends the
	// ceremony.
	evil := &passkeytest.Authenticator{Origin: "http://localhost.evil.example"}
	resp, _, err := evil.Create(started.Msg.GetPublicKeyCredentialCreationOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{CeremonyId: started.Msg.GetCeremonyId(), PublicKeyCredential: resp}))
	wantField(t, err, "publicKeyCredential")
	_, err = c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{CeremonyId: started.Msg.GetCeremonyId(), PublicKeyCredential: resp}))
	wantField(t, err, "ceremonyId")
	if len(mail.Messages()) != 0 {
		t.Fatal("a refused registration was announced")
	}

	// A security key as second factor.
	key := &passkeytest.Authenticator{Origin: origin}
	second, secondKey := registerPasskey(t, c, token, key, false, "YubiKey")
	if second.GetId() != secondKey.IDString() || second.GetName() != "YubiKey" || second.GetPasswordless() || second.GetDiscoverable() ||
		second.GetCreateTime() == nil || second.GetLastUseTime() != nil {
		t.Fatalf("second factor %v", second)
	}
	if m := lastMail(t, mail, 0, "ada@example.com"); !strings.Contains(m.Subject, "added") || !strings.Contains(m.Text, "YubiKey") {
		t.Fatalf("notification %+v", m)
	}

	// A passkey to sign in without a password: discoverable, verifying the user.
	phone := &passkeytest.Authenticator{Origin: origin, UV: true, Synced: true}
	pless, plessKey := registerPasskey(t, c, token, phone, true, "")
	if pless.GetId() != plessKey.IDString() || pless.GetName() != "Passkey" || !pless.GetPasswordless() || !pless.GetDiscoverable() ||
		!pless.GetBackupEligible() || !plessKey.Resident {
		t.Fatalf("passwordless %v", pless)
	}
	// It signs Ada in, by itself.
	cid, reqOpts, err := env.App.Passkeys().BeginLogin(ctx, env.InstanceID, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := phone.Get(reqOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := env.App.Passkeys().FinishLogin(ctx, env.InstanceID, cid, assertion); err != nil || r.UserID != ada || !r.Passwordless {
		t.Fatalf("login with the passkey: %+v %v", r, err)
	}

	// The security key cannot be registered twice: it is excluded.
	started, err = c.StartMyPasskeyRegistration(ctx, as(token, &userv1.StartMyPasskeyRegistrationRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := key.Create(started.Msg.GetPublicKeyCredentialCreationOptions()); err != passkeytest.ErrExcluded {
		t.Fatalf("a registered key was not excluded: %v", err)
	}

	listed, err := c.ListMyPasskeys(ctx, as(token, &userv1.ListMyPasskeysRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if l := listed.Msg.GetPasskeys(); len(l) != 2 || l[0].GetId() != second.GetId() || l[1].GetId() != pless.GetId() || l[1].GetLastUseTime() == nil {
		t.Fatalf("listed %v", l)
	}

	// Bad input names the field.
	_, err = c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{PublicKeyCredential: []byte("{}")}))
	wantField(t, err, "ceremonyId")
	_, err = c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{CeremonyId: started.Msg.GetCeremonyId()}))
	wantField(t, err, "publicKeyCredential")
	_, err = c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{CeremonyId: started.Msg.GetCeremonyId(), PublicKeyCredential: []byte("not json")}))
	wantField(t, err, "publicKeyCredential")
	_, err = c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{CeremonyId: started.Msg.GetCeremonyId(),
		Name: strings.Repeat("n", 101), PublicKeyCredential: []byte("{}")}))
	wantField(t, err, "name")
	_, err = c.RemoveMyPasskey(ctx, as(token, &userv1.RemoveMyPasskeyRequest{}))
	wantField(t, err, "passkeyId")
	_, err = c.RemoveMyPasskey(ctx, as(token, &userv1.RemoveMyPasskeyRequest{PasskeyId: strings.Repeat("A", 2000)}))
	wantField(t, err, "passkeyId")
	_, err = c.RemoveMyPasskey(ctx, as(token, &userv1.RemoveMyPasskeyRequest{PasskeyId: "bm8tc3VjaC1rZXk"}))
	wantCode(t, err, connect.CodeNotFound)

	// Removing: told, gone, and no longer signing in.
	sent := len(mail.Messages())
	if _, err := c.RemoveMyPasskey(ctx, as(token, &userv1.RemoveMyPasskeyRequest{PasskeyId: pless.GetId()})); err != nil {
		t.Fatal(err)
	}
	if m := lastMail(t, mail, sent, "ada@example.com"); !strings.Contains(m.Subject, "removed") || !strings.Contains(m.Text, "Passkey") {
		t.Fatalf("notification %+v", m)
	}
	_, err = c.RemoveMyPasskey(ctx, as(token, &userv1.RemoveMyPasskeyRequest{PasskeyId: pless.GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	cid, reqOpts, err = env.App.Passkeys().BeginLogin(ctx, env.InstanceID, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if assertion, err = phone.Get(reqOpts, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.App.Passkeys().FinishLogin(ctx, env.InstanceID, cid, assertion); err == nil {
		t.Fatal("a removed passkey signed in")
	}

	// Without a token, nothing.
	_, err = c.ListMyPasskeys(ctx, as("", &userv1.ListMyPasskeysRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)
	_, err = c.StartMyPasskeyRegistration(ctx, as("", &userv1.StartMyPasskeyRegistrationRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	// The REST paths.
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/v1/me/passkeys/registrations", strings.NewReader(`{"passwordless":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", apitest.Bearer(token))
	var restStarted struct {
		CeremonyID                         string `json:"ceremonyId"`
		PublicKeyCredentialCreationOptions []byte `json:"publicKeyCredentialCreationOptions"`
	}
	restCall(t, env, req, &restStarted)
	resp, restKey, err := phone.Create(restStarted.PublicKeyCredentialCreationOptions)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"ceremonyId": restStarted.CeremonyID, "name": "Phone", "publicKeyCredential": resp})
	req, _ = http.NewRequest(http.MethodPost, env.URL+"/v1/me/passkeys", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", apitest.Bearer(token))
	var restFinished struct{ Passkey struct{ ID, Name string } }
	restCall(t, env, req, &restFinished)
	if restFinished.Passkey.ID != restKey.IDString() || restFinished.Passkey.Name != "Phone" {
		t.Fatalf("REST: %+v", restFinished)
	}
	req, _ = http.NewRequest(http.MethodGet, env.URL+"/v1/me/passkeys", nil)
	req.Header.Set("Authorization", apitest.Bearer(token))
	var restListed struct{ Passkeys []struct{ ID string } }
	restCall(t, env, req, &restListed)
	if len(restListed.Passkeys) != 2 || restListed.Passkeys[1].ID != restKey.IDString() {
		t.Fatalf("REST: %+v", restListed)
	}
	req, _ = http.NewRequest(http.MethodDelete, env.URL+"/v1/me/passkeys/"+restKey.IDString(), nil)
	req.Header.Set("Authorization", apitest.Bearer(token))
	restCall(t, env, req, &struct{}{})
	listed, err = c.ListMyPasskeys(ctx, as(token, &userv1.ListMyPasskeysRequest{}))
	if err != nil || len(listed.Msg.GetPasskeys()) != 1 || listed.Msg.GetPasskeys()[0].GetId() != second.GetId() {
		t.Fatalf("after REST removal: %v %v", listed, err)
	}
}

// TestPasskeyRegistrationFollowsTypeAndSettings: a user whose type does
// not list "passkey" (a machine, a custom type) registers none, and neither
// does a user whose organization's login settings do not allow passkeys,
// or passwordless sign-in for a passwordless one.
func TestPasskeyRegistrationFollowsTypeAndSettings(t *testing.T) {
	env, c := startPasskeys(t, nil)
	users := user.NewCommands(env.App.Store, env.App.Hasher)

	noPasskeys := `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "authenticators": ["password", "totp"],
  "permission": {"self": "r", "admin": "rw"}, "properties": {"name": {"type": "string"}}}`
	if _, err := usertype.NewCommands(env.App.Store).Create(ctx, eventstore.SystemEditor, env.InstanceID, "kiosk", []byte(noPasskeys)); err != nil {
		t.Fatal(err)
	}
	kiosk, err := users.Create(ctx, eventstore.SystemEditor, env.InstanceID, user.New{OrgID: env.OrgID, Type: "kiosk", LoginName: "kiosk-1", Password: "a good password 1"})
	if err != nil {
		t.Fatal(err)
	}
	machine, err := users.Create(ctx, eventstore.SystemEditor, env.InstanceID, user.New{OrgID: env.OrgID, Type: "machine", LoginName: "ci", Traits: []byte(`{"name":"ci"}`)})
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"kiosk": kiosk, "machine": machine} {
		for _, passwordless := range []bool{false, true} {
			_, err := c.StartMyPasskeyRegistration(ctx, as(env.Token(t, id, env.OrgID), &userv1.StartMyPasskeyRegistrationRequest{Passwordless: passwordless}))
			if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), "type "+name) {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}

	ada := createPerson(t, env, "ada")
	token := env.Token(t, ada, env.OrgID)
	setLogin := func(allowed []string, passwordless bool) {
		t.Helper()
		login := settings.BuiltIn().Login
		login.AllowedAuthenticators, login.PasswordlessAllowed = allowed, passwordless
		if err := settings.NewCommands(env.App.Store).Set(ctx, eventstore.SystemEditor, env.InstanceID, env.OrgID, login); err != nil {
			t.Fatal(err)
		}
	}

	// A ceremony begun while passkeys were allowed is not finished once
	// they are not.
	started, err := c.StartMyPasskeyRegistration(ctx, as(token, &userv1.StartMyPasskeyRegistrationRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := (&passkeytest.Authenticator{Origin: origin}).Create(started.Msg.GetPublicKeyCredentialCreationOptions())
	if err != nil {
		t.Fatal(err)
	}
	setLogin([]string{settings.AuthPassword, settings.AuthTOTP}, false)
	_, err = c.FinishMyPasskeyRegistration(ctx, as(token, &userv1.FinishMyPasskeyRegistrationRequest{CeremonyId: started.Msg.GetCeremonyId(), PublicKeyCredential: resp}))
	if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), "allow passkeys") {
		t.Fatalf("finish: %v", err)
	}
	for _, passwordless := range []bool{false, true} {
		_, err = c.StartMyPasskeyRegistration(ctx, as(token, &userv1.StartMyPasskeyRegistrationRequest{Passwordless: passwordless}))
		if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), "allow passkeys") {
			t.Fatalf("start: %v", err)
		}
	}

	// Passkeys as a second factor, but no passwordless sign-in.
	setLogin([]string{settings.AuthPassword, settings.AuthPasskey}, false)
	_, err = c.StartMyPasskeyRegistration(ctx, as(token, &userv1.StartMyPasskeyRegistrationRequest{Passwordless: true}))
	if ce := wantCode(t, err, connect.CodeFailedPrecondition); !strings.Contains(ce.Message(), "without a password") {
		t.Fatalf("passwordless: %v", err)
	}
	if p, _ := registerPasskey(t, c, token, &passkeytest.Authenticator{Origin: origin}, false, "key"); p.GetPasswordless() {
		t.Fatalf("registered %v", p)
	}
}

// TestAdministratorsRemovePasskeys: a user manager lists and removes the
// passkeys of the users it manages, who are told; not those of an account
// holding permissions it lacks (the instance owner); a viewer only lists.
func TestAdministratorsRemovePasskeys(t *testing.T) {
	mail := &notify.Recorder{}
	env, c := startPasskeys(t, mail)
	mgr := createPerson(t, env, "mgr")
	env.GrantOrg(t, env.OrgID, mgr, "org.user_manager")
	viewer := createPerson(t, env, "viewer")
	env.GrantOrg(t, env.OrgID, viewer, "org.viewer")
	plain := createPerson(t, env, "plain")
	mgrToken, viewerToken := env.Token(t, mgr, env.OrgID), env.Token(t, viewer, env.OrgID)
	plainKey, _ := registerPasskey(t, c, env.Token(t, plain, env.OrgID), &passkeytest.Authenticator{Origin: origin}, false, "Plain's key")
	ownerKey, _ := registerPasskey(t, c, env.AdminToken, &passkeytest.Authenticator{Origin: origin, UV: true}, true, "Owner's passkey")

	listed, err := c.ListPasskeys(ctx, as(viewerToken, &userv1.ListPasskeysRequest{UserId: plain}))
	if err != nil {
		t.Fatal(err)
	}
	if l := listed.Msg.GetPasskeys(); len(l) != 1 || l[0].GetId() != plainKey.GetId() || l[0].GetName() != "Plain's key" {
		t.Fatalf("listed %v", l)
	}
	_, err = c.ListPasskeys(ctx, as(viewerToken, &userv1.ListPasskeysRequest{}))
	wantField(t, err, "userId")
	_, err = c.ListPasskeys(ctx, as(viewerToken, &userv1.ListPasskeysRequest{UserId: "no-such-user"}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.RemovePasskey(ctx, as(viewerToken, &userv1.RemovePasskeyRequest{UserId: plain, PasskeyId: plainKey.GetId()}))
	wantCode(t, err, connect.CodePermissionDenied)

	// The manager may not remove the owner's passkey.
	_, err = c.RemovePasskey(ctx, as(mgrToken, &userv1.RemovePasskeyRequest{UserId: env.AdminID, PasskeyId: ownerKey.GetId()}))
	wantCode(t, err, connect.CodePermissionDenied)
	owner, err := c.ListPasskeys(ctx, as(mgrToken, &userv1.ListPasskeysRequest{UserId: env.AdminID}))
	if err != nil || len(owner.Msg.GetPasskeys()) != 1 || owner.Msg.GetPasskeys()[0].GetId() != ownerKey.GetId() {
		t.Fatalf("the owner's passkeys: %v %v", owner, err)
	}

	// Those of a user it manages, it may; the user is told.
	_, err = c.RemovePasskey(ctx, as(mgrToken, &userv1.RemovePasskeyRequest{UserId: plain}))
	wantField(t, err, "passkeyId")
	_, err = c.RemovePasskey(ctx, as(mgrToken, &userv1.RemovePasskeyRequest{UserId: plain, PasskeyId: ownerKey.GetId()}))
	wantCode(t, err, connect.CodeNotFound)
	sent := len(mail.Messages())
	if _, err := c.RemovePasskey(ctx, as(mgrToken, &userv1.RemovePasskeyRequest{UserId: plain, PasskeyId: plainKey.GetId()})); err != nil {
		t.Fatal(err)
	}
	if m := lastMail(t, mail, sent, "plain@example.com"); !strings.Contains(m.Subject, "removed") || !strings.Contains(m.Text, "Plain's key") {
		t.Fatalf("notification %+v", m)
	}
	listed, err = c.ListPasskeys(ctx, as(mgrToken, &userv1.ListPasskeysRequest{UserId: plain}))
	if err != nil || len(listed.Msg.GetPasskeys()) != 0 {
		t.Fatalf("after removing: %v %v", listed, err)
	}

	// The owner removes the owner's.
	if _, err := c.RemovePasskey(ctx, as(env.AdminToken, &userv1.RemovePasskeyRequest{UserId: env.AdminID, PasskeyId: ownerKey.GetId()})); err != nil {
		t.Fatal(err)
	}
	// REST.
	req, _ := http.NewRequest(http.MethodGet, env.URL+"/v1/users/"+env.AdminID+"/passkeys", nil)
	req.Header.Set("Authorization", apitest.Bearer(mgrToken))
	var restListed struct{ Passkeys []struct{ ID string } }
	restCall(t, env, req, &restListed)
	if len(restListed.Passkeys) != 0 {
		t.Fatalf("REST: %+v", restListed)
	}
}
