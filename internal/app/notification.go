package app

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/notify"
	"github.com/castellan-iam/castellan/internal/settings"
)

// Every message of an instance goes through the notification providers in
// force for it: those the instance sets (settings.NotificationProviders),
// else the server's configuration. The notifiers are built for each
// message, from the read model: SMTP connects per message anyway, and a
// change of the instance's providers applies to its next message, on every
// replica, with no cache to invalidate.

// serverProviders are the notification providers of the configuration
// (notify.smtp, notify.sms): in force for every instance that sets none of
// its own.
func (a *App) serverProviders() settings.Providers {
	var p settings.Providers
	if c := a.Config.Notify.SMTP; c.Host != "" {
		p.SMTP = &settings.SMTPProvider{Host: c.Host, Port: c.Port, Username: c.Username, Password: c.Password, From: c.From, TLS: c.TLS}
	}
	if c := a.Config.Notify.SMS; c.WebhookURL != "" {
		p.SMS = &settings.SMSProvider{URL: c.WebhookURL, Secret: c.WebhookSecret}
	}
	return p
}

// newNotifiers builds the notifiers of providers p; nil for a provider p
// does not have. An error names the provider ("smtp: ...").
func newNotifiers(p settings.Providers) (email, sms notify.Notifier, err error) {
	if c := p.SMTP; c != nil {
		if email, err = notify.NewSMTP(notify.SMTPConfig{Host: c.Host, Port: c.Port, Username: c.Username, Password: c.Password, From: c.From, TLS: c.TLS}); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", settings.ProviderSMTP, err)
		}
	}
	if c := p.SMS; c != nil {
		if sms, err = notify.NewSMSWebhook(notify.WebhookConfig{URL: c.URL, Secret: []byte(c.Secret)}); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", settings.ProviderSMS, err)
		}
	}
	return email, sms, nil
}

// notifiersOf returns the email and SMS notifiers of instance instanceID;
// nil for a channel without a provider. A provider that no longer passes
// the checks (settings written under older rules) is failure.Unavailable,
// like one that cannot be reached.
func (a *App) notifiersOf(ctx context.Context, instanceID string) (email, sms notify.Notifier, err error) {
	p, err := settings.NotificationProviders(ctx, a.DB, a.Keys, instanceID, a.serverProviders())
	if err != nil {
		return nil, nil, err
	}
	if email, sms, err = newNotifiers(p); err != nil {
		e := failure.Unavailable("the notification provider of the instance is misconfigured")
		e.Cause = err
		return nil, nil, e
	}
	return email, sms, nil
}

// emailOf returns the email notifier of instance instanceID, nil when it
// has none (userapi.MailerOf).
func (a *App) emailOf(ctx context.Context, instanceID string) (notify.Notifier, error) {
	email, _, err := a.notifiersOf(ctx, instanceID)
	return email, err
}

// SendCode delivers a verification code by email or SMS through the
// providers of instance instanceID (credential.CodeSender). Without a
// provider for the channel, or when the provider cannot be reached, it is
// failure.Unavailable.
func (a *App) SendCode(ctx context.Context, instanceID, channel, to, code string) error {
	email, sms, err := a.notifiersOf(ctx, instanceID)
	if err != nil {
		return err
	}
	var n notify.Notifier
	m := notify.Message{To: to, Text: "Your verification code is " + code + ". If you did not ask for it, ignore this message."}
	switch channel {
	case credential.ChannelEmail:
		n, m.Subject = email, "Your verification code"
	case credential.ChannelPhone:
		n, m.Text = sms, "Your verification code is "+code
	}
	if n == nil {
		return failure.Unavailable("no %s provider is configured", channel)
	}
	return n.Send(ctx, m)
}
