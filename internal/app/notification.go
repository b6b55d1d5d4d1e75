package app

import "github.com/castellan-iam/castellan/internal/settings"

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
