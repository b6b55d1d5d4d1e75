package settingsapi_test

import (
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/gen/castellan/settings/v1/settingsv1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/settingsapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/settings"
)

const (
	smtpPassword = "the-smtp-password-stays-sealed"
	smsSecret    = "the-webhook-secret-stays-sealed-too"
)

func startWithProviders(t *testing.T) *fixture {
	server := settings.Providers{SMTP: &settings.SMTPProvider{Host: "mail.operator.example", From: "noreply@operator.example", Username: "op", Password: "operator-secret"}}
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{settingsapi.NewService(a.Store, auth).WithNotification(a.Keys, server)}
	})
	return &fixture{Env: env, c: settingsv1connect.NewSettingsServiceClient(env.Client, env.URL)}
}

func (f *fixture) providers(t *testing.T, token string) *settingsv1.GetNotificationProvidersResponse {
	t.Helper()
	resp, err := f.c.GetNotificationProviders(ctx, as(token, &settingsv1.GetNotificationProvidersRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg
}

func TestNotificationProvidersNeverShowSecrets(t *testing.T) {
	f := startWithProviders(t)
	admin := f.AdminToken
	server := settingsv1.SettingsLevel_SETTINGS_LEVEL_SERVER

	got := f.providers(t, admin)
	if got.GetSmtp() != nil || got.GetSmtpSource() != server || !got.GetSmtpConfigured() || got.GetSmsConfigured() || got.GetSmsSource() != server {
		t.Fatalf("the server's configuration: %v", got)
	}

	if _, err := f.c.SetSmtpProvider(ctx, as(admin, &settingsv1.SetSmtpProviderRequest{Host: "smtp.acme.example", Username: "acme",
		Password: proto.String(smtpPassword), From: "login@acme.example"})); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.SetSmsProvider(ctx, as(admin, &settingsv1.SetSmsProviderRequest{Url: "https://sms.acme.example/", Secret: smsSecret})); err != nil {
		t.Fatal(err)
	}
	// A change without the password keeps it.
	if _, err := f.c.SetSmtpProvider(ctx, as(admin, &settingsv1.SetSmtpProviderRequest{Host: "smtp2.acme.example", Username: "acme", From: "login@acme.example"})); err != nil {
		t.Fatal(err)
	}
	got = f.providers(t, admin)
	if got.GetSmtp().GetHost() != "smtp2.acme.example" || !got.GetSmtp().GetPasswordSet() || got.GetSmtpSource() != instance ||
		got.GetSms().GetUrl() != "https://sms.acme.example/" || !got.GetSms().GetSecretSet() || got.GetSmsSource() != instance {
		t.Fatalf("the instance's providers: %v", got)
	}
	status, out := f.rest(t, http.MethodGet, "/v1/settings/notification", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/settings/notification: %d %v", status, out)
	}
	if s := strings.Join([]string{got.String(), toJSON(t, out)}, " "); strings.Contains(s, smtpPassword) || strings.Contains(s, smsSecret) {
		t.Fatalf("a secret is returned: %s", s)
	}

	// An invalid provider names its field; nothing changes.
	_, err := f.c.SetSmsProvider(ctx, as(admin, &settingsv1.SetSmsProviderRequest{Url: "http://sms.acme.example/", Secret: smsSecret}))
	wantField(t, err, "sms.url")
	_, err = f.c.SetSmtpProvider(ctx, as(admin, &settingsv1.SetSmtpProviderRequest{Host: "smtp.acme.example", From: "login@acme.example", Tls: "none"}))
	wantField(t, err, "smtp.tls")

	// Reset falls back to the server.
	if _, err := f.c.ResetNotificationProvider(ctx, as(admin, &settingsv1.ResetNotificationProviderRequest{Provider: "smtp"})); err != nil {
		t.Fatal(err)
	}
	if got := f.providers(t, admin); got.GetSmtp() != nil || got.GetSmtpSource() != server || got.GetSmsSource() != instance {
		t.Fatalf("after the reset: %v", got)
	}
	_, err = f.c.ResetNotificationProvider(ctx, as(admin, &settingsv1.ResetNotificationProviderRequest{Provider: "fax"}))
	wantField(t, err, "provider")
}

func TestOnlyInstanceAdministratorsReachTheProviders(t *testing.T) {
	f := startWithProviders(t)
	acme := f.org(t, "Acme")
	ownerID, acmeOwner := f.user(t, acme, "acme-owner")
	f.GrantOrg(t, acme, ownerID, "org.owner")
	instanceRole := func(login, role string) string {
		id, token := f.user(t, f.OrgID, login)
		if err := member.NewCommands(f.App.Store).SetInstanceMember(ctx, eventstore.SystemEditor, f.InstanceID, id, []string{role}); err != nil {
			t.Fatal(err)
		}
		return token
	}
	viewer, loginClient := instanceRole("viewer", "instance.viewer"), instanceRole("login", "instance.login_client")
	get := func(tok string) error {
		_, err := f.c.GetNotificationProviders(ctx, as(tok, &settingsv1.GetNotificationProvidersRequest{}))
		return err
	}
	set := func(tok string) error {
		_, err := f.c.SetSmsProvider(ctx, as(tok, &settingsv1.SetSmsProviderRequest{Url: "https://sms.example.com/", Secret: smsSecret}))
		return err
	}
	for _, tc := range []struct {
		name  string
		token string
		call  func(string) error
		code  connect.Code
	}{
		{"ok/instance viewer reads", viewer, get, 0},
		{"fail/instance viewer sets", viewer, set, connect.CodePermissionDenied},
		{"fail/login client reads", loginClient, get, connect.CodePermissionDenied},
		{"fail/org owner reads", acmeOwner, get, connect.CodePermissionDenied},
		{"fail/org owner sets", acmeOwner, set, connect.CodePermissionDenied},
		{"ok/instance owner sets", f.AdminToken, set, 0},
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
}

func TestProvidersUnavailableWithoutTheKeyRing(t *testing.T) {
	f := start(t)
	_, err := f.c.GetNotificationProviders(ctx, as(f.AdminToken, &settingsv1.GetNotificationProvidersRequest{}))
	wantCode(t, err, connect.CodeUnavailable)
}
