package settingsapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/settings"
)

// WithNotification lets the service manage the instance's notification
// providers: keys seals their secrets, and server is the server's
// configuration, in force where an instance sets no provider. Without it
// the provider RPCs are unavailable.
func (s *Service) WithNotification(keys *keyring.Ring, server settings.Providers) *Service {
	c := *s
	c.keys, c.server, c.settings = keys, server, s.settings.WithKeys(keys)
	return &c
}

// authorizeProviders authenticates the request and requires every
// permission of ps on the instance: the providers are the instance's only.
func (s *Service) authorizeProviders(ctx context.Context, h http.Header, ps ...authz.Permission) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	for _, p := range ps {
		if err := caller.Require(p, authz.Instance()); err != nil {
			return authz.Caller{}, err
		}
	}
	if s.keys == nil {
		return authz.Caller{}, failure.Unavailable("notification providers are not managed by this server")
	}
	return caller, nil
}

// GetNotificationProviders describes the providers in force, without
// their secrets, and without the details of the server's configuration.
// A login client reads the settings of a login, not how the instance
// sends messages: instance.read is needed too.
func (s *Service) GetNotificationProviders(ctx context.Context, req *connect.Request[settingsv1.GetNotificationProvidersRequest]) (*connect.Response[settingsv1.GetNotificationProvidersResponse], error) {
	caller, err := s.authorizeProviders(ctx, req.Header(), authz.SettingsRead, authz.InstanceRead)
	if err != nil {
		return nil, err
	}
	p, err := settings.NotificationProviders(ctx, s.store.DB(), s.keys, caller.InstanceID, s.server)
	if err != nil {
		return nil, err
	}
	resp := &settingsv1.GetNotificationProvidersResponse{
		SmtpSource: levels[p.Sources[settings.ProviderSMTP]], SmtpConfigured: p.SMTP != nil,
		SmsSource: levels[p.Sources[settings.ProviderSMS]], SmsConfigured: p.SMS != nil,
	}
	if p.SMTP != nil && p.Sources[settings.ProviderSMTP] == settings.LevelInstance {
		resp.Smtp = &settingsv1.SmtpProvider{Host: p.SMTP.Host, Port: int32(p.SMTP.Port), Username: p.SMTP.Username,
			PasswordSet: p.SMTP.Password != "", From: p.SMTP.From, Tls: p.SMTP.TLS}
	}
	if p.SMS != nil && p.Sources[settings.ProviderSMS] == settings.LevelInstance {
		resp.Sms = &settingsv1.SmsProvider{Url: p.SMS.URL, SecretSet: p.SMS.Secret != ""}
	}
	return connect.NewResponse(resp), nil
}

// SetSmtpProvider sets the instance's SMTP server.
func (s *Service) SetSmtpProvider(ctx context.Context, req *connect.Request[settingsv1.SetSmtpProviderRequest]) (*connect.Response[settingsv1.SetSmtpProviderResponse], error) {
	caller, err := s.authorizeProviders(ctx, req.Header(), authz.SettingsWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	p := settings.SMTPProvider{Host: m.GetHost(), Port: int(m.GetPort()), Username: m.GetUsername(), Password: m.GetPassword(), From: m.GetFrom(), TLS: m.GetTls()}
	if err := s.settings.SetSMTPProvider(ctx, caller.Editor(), caller.InstanceID, p, m.Password == nil); err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetSmtpProviderResponse{}), nil
}

// SetSmsProvider sets the instance's SMS webhook.
func (s *Service) SetSmsProvider(ctx context.Context, req *connect.Request[settingsv1.SetSmsProviderRequest]) (*connect.Response[settingsv1.SetSmsProviderResponse], error) {
	caller, err := s.authorizeProviders(ctx, req.Header(), authz.SettingsWrite)
	if err != nil {
		return nil, err
	}
	if err := s.settings.SetSMSProvider(ctx, caller.Editor(), caller.InstanceID, settings.SMSProvider{URL: req.Msg.GetUrl(), Secret: req.Msg.GetSecret()}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetSmsProviderResponse{}), nil
}

// ResetNotificationProvider falls back to the server's configuration.
func (s *Service) ResetNotificationProvider(ctx context.Context, req *connect.Request[settingsv1.ResetNotificationProviderRequest]) (*connect.Response[settingsv1.ResetNotificationProviderResponse], error) {
	caller, err := s.authorizeProviders(ctx, req.Header(), authz.SettingsWrite)
	if err != nil {
		return nil, err
	}
	if err := s.settings.ResetProvider(ctx, caller.Editor(), caller.InstanceID, settings.Provider(req.Msg.GetProvider())); err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.ResetNotificationProviderResponse{}), nil
}
