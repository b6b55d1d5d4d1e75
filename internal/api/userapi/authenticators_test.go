package userapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/pquerna/otp/totp"
	"golang.org/x/text/language"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/notify"
	"github.com/castellan-iam/castellan/internal/user"
)

// startAuthenticators runs the authenticator service on src (SQLite when
// nil), telling users through mail.
func startAuthenticators(t *testing.T, src dbtest.Source, mail notify.Notifier) (*apitest.Env, userv1connect.AuthenticatorServiceClient) {
	services := func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{userapi.NewAuthenticatorService(a.Store, user.NewCommands(a.Store, a.Hasher), auth, a.Keys, everywhere(mail), a.Log)}
	}
	var env *apitest.Env
	if src == nil {
		env = apitest.Start(t, services)
	} else {
		env = apitest.StartOn(t, src, services)
	}
	return env, userv1connect.NewAuthenticatorServiceClient(env.Client, env.URL)
}

// everywhere sends the mail of every instance through n, in English with
// the built-in look; none for nil.
func everywhere(n notify.Notifier) mail.Sender {
	if n == nil {
		return nil
	}
	return func(ctx context.Context, r mail.Recipient, m mail.Message) error {
		e, err := mail.Render(language.English, mail.Brand{}, m)
		if err != nil {
			return err
		}
		return n.Send(ctx, notify.Message{To: r.To, Subject: e.Subject, Text: e.Text, HTML: e.HTML})
	}
}

// createPerson creates a human with a verified email address.
func createPerson(t *testing.T, env *apitest.Env, login string) string {
	t.Helper()
	id, err := user.NewCommands(env.App.Store, env.App.Hasher).Create(ctx, eventstore.SystemEditor, env.InstanceID, user.New{
		OrgID: env.OrgID, Type: "human", LoginName: login, Password: "a good password 1", Email: login + "@example.com", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// wantField checks an invalid-argument error names field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	ce := wantCode(t, err, connect.CodeInvalidArgument)
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if br, ok := v.(*errdetails.BadRequest); ok {
				for _, fv := range br.GetFieldViolations() {
					if fv.GetField() == field {
						return
					}
				}
			}
		}
	}
	t.Fatalf("%v names no field %q", err, field)
}

// lastMail returns the latest message to to, failing when there is none
// after the count of messages before.
func lastMail(t *testing.T, mail *notify.Recorder, before int, to string) notify.Message {
	t.Helper()
	msgs := mail.Messages()
	if len(msgs) <= before {
		t.Fatalf("no notification sent (%d messages)", len(msgs))
	}
	m := msgs[len(msgs)-1]
	if m.To != to {
		t.Fatalf("notification to %q, want %q", m.To, to)
	}
	return m
}

func TestMyAuthenticators(t *testing.T) {
	dbtest.Each(t, testMyAuthenticators)
}

func testMyAuthenticators(t *testing.T, src dbtest.Source) {
	mail := &notify.Recorder{}
	env, c := startAuthenticators(t, src, mail)
	ada := createPerson(t, env, "ada")
	token := env.Token(t, ada, env.OrgID)

	list := func() *userv1.Authenticators {
		t.Helper()
		resp, err := c.ListMyAuthenticators(ctx, as(token, &userv1.ListMyAuthenticatorsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.GetAuthenticators()
	}
	if a := list(); !a.GetHasPassword() || a.GetTotp() || a.GetTotpPending() || a.GetRecoveryCodesLeft() != 0 || a.GetOtpEmail() {
		t.Fatalf("a new user has %v", a)
	}

	// TOTP: added, verified with a code of the app, told by email.
	added, err := c.AddMyTOTP(ctx, as(token, &userv1.AddMyTOTPRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	secret := added.Msg.GetSecret()
	if !strings.HasPrefix(added.Msg.GetUri(), "otpauth://totp/Test:ada?") || !strings.Contains(added.Msg.GetUri(), "secret="+secret) {
		t.Fatalf("uri %q", added.Msg.GetUri())
	}
	if _, err := png.Decode(bytes.NewReader(added.Msg.GetQrCodePng())); err != nil {
		t.Fatalf("QR code: %v", err)
	}
	if a := list(); !a.GetTotpPending() || a.GetTotp() {
		t.Fatalf("after adding: %v", a)
	}
	if len(mail.Messages()) != 0 {
		t.Fatal("a pending registration was announced")
	}
	_, err = c.VerifyMyTOTP(ctx, as(token, &userv1.VerifyMyTOTPRequest{}))
	wantField(t, err, "code")
	_, err = c.VerifyMyTOTP(ctx, as(token, &userv1.VerifyMyTOTPRequest{Code: "12ab56"}))
	wantField(t, err, "code")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wrong := string('0'+(code[0]-'0'+1)%10) + code[1:]
	_, err = c.VerifyMyTOTP(ctx, as(token, &userv1.VerifyMyTOTPRequest{Code: wrong}))
	wantField(t, err, "code")
	if _, err := c.VerifyMyTOTP(ctx, as(token, &userv1.VerifyMyTOTPRequest{Code: code})); err != nil {
		t.Fatal(err)
	}
	m := lastMail(t, mail, 0, "ada@example.com")
	if !strings.Contains(m.Subject, "added") || !strings.Contains(m.Text, "TOTP") || !strings.Contains(m.Text, "ada") || strings.Contains(m.Text, secret) {
		t.Fatalf("notification %+v", m)
	}
	if a := list(); !a.GetTotp() || a.GetTotpPending() {
		t.Fatalf("after verifying: %v", a)
	}
	_, err = c.AddMyTOTP(ctx, as(token, &userv1.AddMyTOTPRequest{}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	// Recovery codes: ten, shown once, counted.
	sent := len(mail.Messages())
	codes, err := c.GenerateMyRecoveryCodes(ctx, as(token, &userv1.GenerateMyRecoveryCodesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes.Msg.GetCodes()) != 10 {
		t.Fatalf("%d codes", len(codes.Msg.GetCodes()))
	}
	if m := lastMail(t, mail, sent, "ada@example.com"); strings.Contains(m.Text, codes.Msg.GetCodes()[0]) {
		t.Fatal("the notification holds a recovery code")
	}
	if a := list(); a.GetRecoveryCodesLeft() != 10 {
		t.Fatalf("left %d", a.GetRecoveryCodesLeft())
	}

	// Sign-in codes need a verified address.
	if _, err := c.AddMyOTPEmail(ctx, as(token, &userv1.AddMyOTPEmailRequest{})); err != nil {
		t.Fatal(err)
	}
	_, err = c.AddMyOTPEmail(ctx, as(token, &userv1.AddMyOTPEmailRequest{}))
	wantCode(t, err, connect.CodeAlreadyExists)
	_, err = c.AddMyOTPSMS(ctx, as(token, &userv1.AddMyOTPSMSRequest{}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if a := list(); !a.GetOtpEmail() || a.GetOtpSms() {
		t.Fatalf("%v", a)
	}

	// Removing, each told.
	for _, remove := range []func() error{
		func() error { _, err := c.RemoveMyTOTP(ctx, as(token, &userv1.RemoveMyTOTPRequest{})); return err },
		func() error {
			_, err := c.RemoveMyRecoveryCodes(ctx, as(token, &userv1.RemoveMyRecoveryCodesRequest{}))
			return err
		},
		func() error {
			_, err := c.RemoveMyOTPEmail(ctx, as(token, &userv1.RemoveMyOTPEmailRequest{}))
			return err
		},
	} {
		sent := len(mail.Messages())
		if err := remove(); err != nil {
			t.Fatal(err)
		}
		if m := lastMail(t, mail, sent, "ada@example.com"); !strings.Contains(m.Subject, "removed") {
			t.Fatalf("notification %+v", m)
		}
	}
	_, err = c.RemoveMyTOTP(ctx, as(token, &userv1.RemoveMyTOTPRequest{}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = c.RemoveMyOTPSMS(ctx, as(token, &userv1.RemoveMyOTPSMSRequest{}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	if a := list(); a.GetTotp() || a.GetRecoveryCodesLeft() != 0 || a.GetOtpEmail() {
		t.Fatalf("after removing: %v", a)
	}

	// Without a token, nothing.
	_, err = c.ListMyAuthenticators(ctx, as("", &userv1.ListMyAuthenticatorsRequest{}))
	wantCode(t, err, connect.CodeUnauthenticated)

	// The REST paths.
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/v1/me/authenticators/recovery_codes", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", apitest.Bearer(token))
	var generated struct{ Codes []string }
	restCall(t, env, req, &generated)
	if len(generated.Codes) != 10 {
		t.Fatalf("REST: %v", generated)
	}
	req, _ = http.NewRequest(http.MethodGet, env.URL+"/v1/me/authenticators", nil)
	req.Header.Set("Authorization", apitest.Bearer(token))
	var listed struct {
		Authenticators struct{ RecoveryCodesLeft int }
	}
	restCall(t, env, req, &listed)
	if listed.Authenticators.RecoveryCodesLeft != 10 {
		t.Fatalf("REST: %+v", listed)
	}
}

func restCall(t *testing.T, env *apitest.Env, req *http.Request, out any) {
	t.Helper()
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", req.Method, req.URL.Path, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// giveTOTP registers and verifies a TOTP for a user, as the user would.
func giveTOTP(t *testing.T, env *apitest.Env, userID string) {
	t.Helper()
	users := user.NewCommands(env.App.Store, env.App.Hasher)
	reg, err := users.AddTOTP(ctx, eventstore.Editor{UserID: userID}, env.InstanceID, userID, "Test", env.App.Keys)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(reg.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := users.VerifyTOTP(ctx, eventstore.Editor{UserID: userID}, env.InstanceID, userID, code, env.App.Keys); err != nil {
		t.Fatal(err)
	}
}

// TestAdministratorsRemoveAuthenticators: a user manager lists and removes
// the second factors of the users it manages, who are told; not those of
// an account holding permissions it lacks (the instance owner); a viewer
// only lists.
func TestAdministratorsRemoveAuthenticators(t *testing.T) {
	dbtest.Each(t, testAdministratorsRemoveAuthenticators)
}

func testAdministratorsRemoveAuthenticators(t *testing.T, src dbtest.Source) {
	mail := &notify.Recorder{}
	env, c := startAuthenticators(t, src, mail)
	mgr := createPerson(t, env, "mgr")
	env.GrantOrg(t, env.OrgID, mgr, "org.user_manager")
	viewer := createPerson(t, env, "viewer")
	env.GrantOrg(t, env.OrgID, viewer, "org.viewer")
	plain := createPerson(t, env, "plain")
	mgrToken, viewerToken := env.Token(t, mgr, env.OrgID), env.Token(t, viewer, env.OrgID)
	giveTOTP(t, env, plain)
	giveTOTP(t, env, env.AdminID)
	users := user.NewCommands(env.App.Store, env.App.Hasher)
	if _, err := users.GenerateRecoveryCodes(ctx, eventstore.Editor{UserID: plain}, env.InstanceID, plain); err != nil {
		t.Fatal(err)
	}
	if err := users.AddSignInCodeFactor(ctx, eventstore.Editor{UserID: plain}, env.InstanceID, plain, "email"); err != nil {
		t.Fatal(err)
	}

	listed, err := c.ListAuthenticators(ctx, as(viewerToken, &userv1.ListAuthenticatorsRequest{UserId: plain}))
	if err != nil {
		t.Fatal(err)
	}
	if a := listed.Msg.GetAuthenticators(); !a.GetTotp() || a.GetRecoveryCodesLeft() != 10 || !a.GetOtpEmail() {
		t.Fatalf("listed %v", a)
	}
	_, err = c.ListAuthenticators(ctx, as(viewerToken, &userv1.ListAuthenticatorsRequest{}))
	wantField(t, err, "userId")
	_, err = c.ListAuthenticators(ctx, as(viewerToken, &userv1.ListAuthenticatorsRequest{UserId: "no-such-user"}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.RemoveTOTP(ctx, as(viewerToken, &userv1.RemoveTOTPRequest{UserId: plain}))
	wantCode(t, err, connect.CodePermissionDenied)

	// The manager may not touch the owner's second factor.
	_, err = c.RemoveTOTP(ctx, as(mgrToken, &userv1.RemoveTOTPRequest{UserId: env.AdminID}))
	wantCode(t, err, connect.CodePermissionDenied)
	owner, err := c.ListAuthenticators(ctx, as(mgrToken, &userv1.ListAuthenticatorsRequest{UserId: env.AdminID}))
	if err != nil || !owner.Msg.GetAuthenticators().GetTotp() {
		t.Fatalf("the owner's TOTP: %v %v", owner, err)
	}

	// Those of a user it manages, it may; the user is told each time.
	for _, tc := range []struct {
		name   string
		remove func() error
	}{
		{"TOTP", func() error {
			_, err := c.RemoveTOTP(ctx, as(mgrToken, &userv1.RemoveTOTPRequest{UserId: plain}))
			return err
		}},
		{"Recovery codes", func() error {
			_, err := c.RemoveRecoveryCodes(ctx, as(mgrToken, &userv1.RemoveRecoveryCodesRequest{UserId: plain}))
			return err
		}},
		{"email", func() error {
			_, err := c.RemoveOTPEmail(ctx, as(mgrToken, &userv1.RemoveOTPEmailRequest{UserId: plain}))
			return err
		}},
	} {
		sent := len(mail.Messages())
		if err := tc.remove(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if m := lastMail(t, mail, sent, "plain@example.com"); !strings.Contains(m.Subject, "removed") || !strings.Contains(m.Text, tc.name) {
			t.Fatalf("%s: notification %+v", tc.name, m)
		}
	}
	_, err = c.RemoveOTPSMS(ctx, as(mgrToken, &userv1.RemoveOTPSMSRequest{UserId: plain}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	listed, err = c.ListAuthenticators(ctx, as(mgrToken, &userv1.ListAuthenticatorsRequest{UserId: plain}))
	if a := listed.Msg.GetAuthenticators(); err != nil || a.GetTotp() || a.GetRecoveryCodesLeft() != 0 || a.GetOtpEmail() {
		t.Fatalf("after removing: %v %v", a, err)
	}
}

// failingMail refuses every message, as an unreachable provider would.
type failingMail struct{ tried int }

func (f *failingMail) Send(context.Context, notify.Message) error {
	f.tried++
	return errors.New("provider unreachable")
}

// TestNotificationIsBestEffort: a notification that cannot be sent does
// not fail the change, and a user without a verified address is not
// written to.
func TestNotificationIsBestEffort(t *testing.T) {
	mail := &failingMail{}
	env, c := startAuthenticators(t, nil, mail)
	ada := createPerson(t, env, "ada")
	if _, err := c.GenerateMyRecoveryCodes(ctx, as(env.Token(t, ada, env.OrgID), &userv1.GenerateMyRecoveryCodesRequest{})); err != nil {
		t.Fatalf("a failed notification failed the request: %v", err)
	}
	if mail.tried != 1 {
		t.Fatalf("%d notifications tried", mail.tried)
	}
	bob, err := user.NewCommands(env.App.Store, env.App.Hasher).Create(ctx, eventstore.SystemEditor, env.InstanceID, user.New{
		OrgID: env.OrgID, Type: "human", LoginName: "bob", Password: "a good password 1", Email: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateMyRecoveryCodes(ctx, as(env.Token(t, bob, env.OrgID), &userv1.GenerateMyRecoveryCodesRequest{})); err != nil {
		t.Fatal(err)
	}
	if mail.tried != 1 {
		t.Fatal("an unverified address was written to")
	}
}
