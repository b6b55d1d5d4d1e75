package settingsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/gen/castellan/settings/v1/settingsv1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/settingsapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

var ctx = context.Background()

const (
	builtIn  = settingsv1.SettingsLevel_SETTINGS_LEVEL_BUILT_IN
	instance = settingsv1.SettingsLevel_SETTINGS_LEVEL_INSTANCE
	ownOrg   = settingsv1.SettingsLevel_SETTINGS_LEVEL_ORGANIZATION
)

type fixture struct {
	*apitest.Env
	c settingsv1connect.SettingsServiceClient
}

func start(t *testing.T) *fixture {
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{settingsapi.NewService(a.Store, auth)}
	})
	return &fixture{Env: env, c: settingsv1connect.NewSettingsServiceClient(env.Client, env.URL)}
}

func (f *fixture) org(t *testing.T, name string) string {
	t.Helper()
	id, err := org.NewCommands(f.App.Store, nil).Create(ctx, eventstore.SystemEditor, f.InstanceID, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// user creates a user of orgID and returns a token of it.
func (f *fixture) user(t *testing.T, orgID, login string) (string, string) {
	t.Helper()
	id, err := user.NewCommands(f.App.Store, f.App.Hasher).Create(ctx, eventstore.SystemEditor, f.InstanceID,
		user.New{OrgID: orgID, Type: "human", LoginName: login, Password: "member-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	return id, f.Token(t, id, orgID)
}

func as[T any](token string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", apitest.Bearer(token))
	}
	return req
}

func wantCode(t *testing.T, err error, code connect.Code) *connect.Error {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	return ce
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	ce := wantCode(t, err, connect.CodeInvalidArgument)
	for _, d := range ce.Details() {
		v, _ := d.Value()
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				if fv.GetField() == field {
					return
				}
			}
		}
	}
	t.Fatalf("%v names no field %q", err, field)
}

func (f *fixture) get(t *testing.T, token, orgID string) *settingsv1.Settings {
	t.Helper()
	resp, err := f.c.GetSettings(ctx, as(token, &settingsv1.GetSettingsRequest{OrganizationId: orgID}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetSettings()
}

func session(lifetime, idle time.Duration) *settingsv1.SessionSettings {
	return &settingsv1.SessionSettings{Lifetime: durationpb.New(lifetime), IdleTimeout: durationpb.New(idle)}
}

func (f *fixture) setSession(token, orgID string, lifetime, idle time.Duration) error {
	_, err := f.c.SetSessionSettings(ctx, as(token, &settingsv1.SetSessionSettingsRequest{OrganizationId: orgID, Session: session(lifetime, idle)}))
	return err
}

func (f *fixture) reset(token, orgID, group string) error {
	_, err := f.c.ResetSettings(ctx, as(token, &settingsv1.ResetSettingsRequest{OrganizationId: orgID, Group: group}))
	return err
}

func wantSession(t *testing.T, s *settingsv1.Settings, lifetime time.Duration, source settingsv1.SettingsLevel) {
	t.Helper()
	if got := s.GetSession().GetLifetime().AsDuration(); got != lifetime || s.GetSources().GetSession() != source {
		t.Fatalf("session lifetime %s from %s, want %s from %s", got, s.GetSources().GetSession(), lifetime, source)
	}
}

func TestInstanceDefaultsOrganizationOverridesAndResets(t *testing.T) {
	f := start(t)
	admin := f.AdminToken
	acme, globex := f.org(t, "Acme"), f.org(t, "Globex")
	ownerID, acmeOwner := f.user(t, acme, "acme-owner")
	f.GrantOrg(t, acme, ownerID, "org.owner")

	// Nobody set anything: the built-in values.
	s := f.get(t, admin, acme)
	wantSession(t, s, 24*time.Hour, builtIn)
	if s.GetLogin().GetMfaRequired() != settingsv1.MfaRequirement_MFA_REQUIREMENT_NEVER || s.GetSources().GetPrivacy() != builtIn ||
		s.GetPrivacy().GetDefaultLanguage() != "en" {
		t.Fatalf("built-in settings: %v", s)
	}

	// The instance owner sets the instance's default; every organization
	// follows it.
	if err := f.setSession(admin, "", 8*time.Hour, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantSession(t, f.get(t, admin, ""), 8*time.Hour, instance)
	wantSession(t, f.get(t, admin, acme), 8*time.Hour, instance)

	// Acme's owner overrides Acme only.
	if err := f.setSession(acmeOwner, acme, 2*time.Hour, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	wantSession(t, f.get(t, acmeOwner, acme), 2*time.Hour, ownOrg)
	wantSession(t, f.get(t, admin, globex), 8*time.Hour, instance)
	wantSession(t, f.get(t, admin, ""), 8*time.Hour, instance)
	if got := f.get(t, acmeOwner, acme).GetSession().GetIdleTimeout().AsDuration(); got != 30*time.Minute {
		t.Fatalf("idle timeout %s", got)
	}

	// Resetting falls back one level at a time; a second reset is a no-op.
	if err := f.reset(acmeOwner, acme, "session"); err != nil {
		t.Fatal(err)
	}
	wantSession(t, f.get(t, acmeOwner, acme), 8*time.Hour, instance)
	if err := f.reset(acmeOwner, acme, "session"); err != nil {
		t.Fatalf("resetting a group that is not set: %v", err)
	}
	if err := f.reset(admin, "", "session"); err != nil {
		t.Fatal(err)
	}
	wantSession(t, f.get(t, acmeOwner, acme), 24*time.Hour, builtIn)
}

func TestCallersReachOnlyTheLevelsTheirRolesAllow(t *testing.T) {
	f := start(t)
	acme, globex := f.org(t, "Acme"), f.org(t, "Globex")
	ownerID, acmeOwner := f.user(t, acme, "acme-owner")
	f.GrantOrg(t, acme, ownerID, "org.owner")
	viewerID, acmeViewer := f.user(t, acme, "acme-viewer")
	f.GrantOrg(t, acme, viewerID, "org.viewer")
	managerID, acmeManager := f.user(t, acme, "acme-manager")
	f.GrantOrg(t, acme, managerID, "org.user_manager")
	loginID, loginClient := f.user(t, f.OrgID, "login-client")
	if err := member.NewCommands(f.App.Store).SetInstanceMember(ctx, eventstore.SystemEditor, f.InstanceID, loginID, []string{"instance.login_client"}); err != nil {
		t.Fatal(err)
	}
	_, nobody := f.user(t, acme, "nobody")

	read := func(orgID string) func(string) error {
		return func(tok string) error {
			_, err := f.c.GetSettings(ctx, as(tok, &settingsv1.GetSettingsRequest{OrganizationId: orgID}))
			return err
		}
	}
	set := func(orgID string) func(string) error {
		return func(tok string) error { return f.setSession(tok, orgID, time.Hour, time.Hour) }
	}
	reset := func(orgID string) func(string) error {
		return func(tok string) error { return f.reset(tok, orgID, "lockout") }
	}
	for _, tc := range []struct {
		name  string
		token string
		call  func(string) error
		code  connect.Code // 0: succeeds
	}{
		{"fail/no token reads", "", read(acme), connect.CodeUnauthenticated},
		{"fail/no token sets", "", set(""), connect.CodeUnauthenticated},
		{"ok/org owner reads its organization", acmeOwner, read(acme), 0},
		{"ok/org owner overrides its organization", acmeOwner, set(acme), 0},
		{"ok/org owner resets its organization", acmeOwner, reset(acme), 0},
		{"fail/org owner reads the instance's defaults", acmeOwner, read(""), connect.CodePermissionDenied},
		{"fail/org owner sets the instance's defaults", acmeOwner, set(""), connect.CodePermissionDenied},
		{"fail/org owner resets the instance's defaults", acmeOwner, reset(""), connect.CodePermissionDenied},
		{"fail/org owner reads another organization", acmeOwner, read(globex), connect.CodePermissionDenied},
		{"fail/org owner overrides another organization", acmeOwner, set(globex), connect.CodePermissionDenied},
		{"fail/org owner resets another organization", acmeOwner, reset(globex), connect.CodePermissionDenied},
		{"fail/org owner probes a missing organization", acmeOwner, set("missing"), connect.CodePermissionDenied},
		{"ok/org viewer reads its organization", acmeViewer, read(acme), 0},
		{"fail/org viewer overrides its organization", acmeViewer, set(acme), connect.CodePermissionDenied},
		{"fail/org viewer resets its organization", acmeViewer, reset(acme), connect.CodePermissionDenied},
		{"fail/user manager reads its organization's settings", acmeManager, read(acme), connect.CodePermissionDenied},
		{"fail/user without roles reads its organization's settings", nobody, read(acme), connect.CodePermissionDenied},
		{"ok/login client reads any organization", loginClient, read(globex), 0},
		{"ok/login client reads the instance", loginClient, read(""), 0},
		{"fail/login client sets the instance's defaults", loginClient, set(""), connect.CodePermissionDenied},
		{"fail/login client overrides an organization", loginClient, set(acme), connect.CodePermissionDenied},
		{"fail/login client resets an organization", loginClient, reset(acme), connect.CodePermissionDenied},
		{"fail/instance owner reads a missing organization", f.AdminToken, read("missing"), connect.CodeNotFound},
		{"fail/instance owner overrides a missing organization", f.AdminToken, set("missing"), connect.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.token)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
	// Only Acme's override happened.
	wantSession(t, f.get(t, f.AdminToken, acme), time.Hour, ownOrg)
	wantSession(t, f.get(t, f.AdminToken, globex), 24*time.Hour, builtIn)
	wantSession(t, f.get(t, f.AdminToken, ""), 24*time.Hour, builtIn)
}

func TestInvalidSettingsNameTheirField(t *testing.T) {
	f := start(t)
	admin := f.AdminToken
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"fail/unknown authenticator", func() error {
			_, err := f.c.SetLoginSettings(ctx, as(admin, &settingsv1.SetLoginSettingsRequest{Login: &settingsv1.LoginSettings{
				AllowedAuthenticators: []string{"password", "totp", "fingerprint"}, MfaRequired: settingsv1.MfaRequirement_MFA_REQUIREMENT_NEVER,
				PasswordCheckLifetime: durationpb.New(time.Hour), SecondFactorCheckLifetime: durationpb.New(time.Hour), ExternalLoginLifetime: durationpb.New(time.Hour),
			}}))
			return err
		}, "login.allowedAuthenticators[2]"},
		{"fail/unspecified MFA requirement", func() error {
			_, err := f.c.SetLoginSettings(ctx, as(admin, &settingsv1.SetLoginSettingsRequest{Login: &settingsv1.LoginSettings{AllowedAuthenticators: []string{"password"}}}))
			return err
		}, "login.mfaRequired"},
		{"fail/no login settings", func() error {
			_, err := f.c.SetLoginSettings(ctx, as(admin, &settingsv1.SetLoginSettingsRequest{}))
			return err
		}, "login"},
		{"fail/lockout attempts", func() error {
			_, err := f.c.SetLockoutSettings(ctx, as(admin, &settingsv1.SetLockoutSettingsRequest{Lockout: &settingsv1.LockoutSettings{MaxPasswordAttempts: -1}}))
			return err
		}, "lockout.maxPasswordAttempts"},
		{"fail/idle timeout beyond lifetime", func() error { return f.setSession(admin, "", time.Hour, 2*time.Hour) }, "session.idleTimeout"},
		{"fail/invalid duration", func() error {
			_, err := f.c.SetSessionSettings(ctx, as(admin, &settingsv1.SetSessionSettingsRequest{Session: &settingsv1.SessionSettings{
				Lifetime: &durationpb.Duration{Seconds: 10, Nanos: -1}, IdleTimeout: durationpb.New(time.Hour)}}))
			return err
		}, "session.lifetime"},
		{"fail/absent token lifetime", func() error {
			_, err := f.c.SetTokenSettings(ctx, as(admin, &settingsv1.SetTokenSettingsRequest{Tokens: &settingsv1.TokenSettings{
				AccessToken: durationpb.New(time.Hour), RefreshToken: durationpb.New(time.Hour), RefreshTokenIdle: durationpb.New(time.Hour)}}))
			return err
		}, "tokens.idToken"},
		{"fail/short passwords", func() error {
			_, err := f.c.SetPasswordSettings(ctx, as(admin, &settingsv1.SetPasswordSettingsRequest{Password: &settingsv1.PasswordSettings{MinLength: 4}}))
			return err
		}, "password.minLength"},
		{"fail/plain http link", func() error {
			_, err := f.c.SetPrivacySettings(ctx, as(admin, &settingsv1.SetPrivacySettingsRequest{Privacy: &settingsv1.PrivacySettings{
				TermsUrl: "http://example.com/terms", DefaultLanguage: "en", AllowedLanguages: []string{"en"}}}))
			return err
		}, "privacy.termsUrl"},
		{"fail/unknown group", func() error { return f.reset(admin, "", "appearance") }, "group"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantField(t, tc.call(), tc.field) })
	}
	s := f.get(t, admin, "")
	for _, l := range []settingsv1.SettingsLevel{s.GetSources().GetLogin(), s.GetSources().GetLockout(), s.GetSources().GetSession(),
		s.GetSources().GetTokens(), s.GetSources().GetPassword(), s.GetSources().GetPrivacy()} {
		if l != builtIn {
			t.Fatalf("a rejected request changed the settings: %v", s.GetSources())
		}
	}
}

// rest sends a JSON request over plain HTTP as the administrator.
func (f *fixture) rest(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", apitest.Bearer(f.AdminToken))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil && err != io.EOF {
		t.Fatalf("%s %s: %s: %v", method, path, resp.Status, err)
	}
	return resp.StatusCode, out
}

func TestRESTPaths(t *testing.T) {
	f := start(t)
	acme := f.org(t, "Acme")
	for _, step := range []struct {
		method, path string
		body         any
		want         int
	}{
		{http.MethodPut, "/v1/settings/session", map[string]any{"session": map[string]any{"lifetime": "7200s", "idleTimeout": "600s"}}, http.StatusOK},
		{http.MethodPut, "/v1/settings/privacy", map[string]any{"organizationId": acme, "privacy": map[string]any{
			"termsUrl": "https://acme.example/terms", "defaultLanguage": "de-ch", "allowedLanguages": []string{"de-CH", "fr-CH"}}}, http.StatusOK},
		{http.MethodPut, "/v1/settings/lockout", map[string]any{"organizationId": "missing", "lockout": map[string]any{}}, http.StatusNotFound},
		{http.MethodPut, "/v1/settings/tokens", map[string]any{"tokens": map[string]any{"accessToken": "0s"}}, http.StatusBadRequest},
		{http.MethodPost, "/v1/settings/session:reset", map[string]any{"organizationId": acme}, http.StatusOK},
	} {
		if status, out := f.rest(t, step.method, step.path, step.body); status != step.want {
			t.Fatalf("%s %s: %d %v, want %d", step.method, step.path, status, out, step.want)
		}
	}
	status, out := f.rest(t, http.MethodGet, "/v1/settings?organizationId="+acme, nil)
	s, _ := out["settings"].(map[string]any)
	session, _ := s["session"].(map[string]any)
	privacy, _ := s["privacy"].(map[string]any)
	sources, _ := s["sources"].(map[string]any)
	if status != http.StatusOK || session["lifetime"] != "7200s" || privacy["defaultLanguage"] != "de-CH" ||
		sources["session"] != "SETTINGS_LEVEL_INSTANCE" || sources["privacy"] != "SETTINGS_LEVEL_ORGANIZATION" || sources["login"] != "SETTINGS_LEVEL_BUILT_IN" {
		t.Fatalf("GET /v1/settings: %d %v", status, out)
	}
	if status, out := f.rest(t, http.MethodPost, "/v1/settings/session:reset", map[string]any{}); status != http.StatusOK {
		t.Fatalf("reset the instance's session: %d %v", status, out)
	}
	if _, out := f.rest(t, http.MethodGet, "/v1/settings", nil); out["settings"].(map[string]any)["sources"].(map[string]any)["session"] != "SETTINGS_LEVEL_BUILT_IN" {
		t.Fatalf("after the reset: %v", out)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
