package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/notify"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"golang.org/x/text/language"
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

// The words of every message come from package mail, in the recipient's
// language and the branding in force for it: the user's preferred language
// (the human schema's profile.preferred_language) if the catalogue speaks
// it, else the privacy.defaultLanguage of the settings in force for the
// user's organization (else the instance's), else English; the colours of
// the branding of the same level, and the instance's name.

// styleOf returns the language and branding of a message to r, and the
// login name of r's user ("" without one). A user that no longer exists,
// or an instance without a name, is no error: the message goes out in the
// organization's (else the instance's) language and look.
func (a *App) styleOf(ctx context.Context, r mail.Recipient) (language.Tag, mail.Brand, string, error) {
	orgID, preferred, loginName := r.OrgID, "", ""
	if r.UserID != "" {
		u, err := user.Get(ctx, a.DB, r.InstanceID, r.UserID, userschema.Admin)
		switch {
		case err == nil:
			orgID, loginName, preferred = u.OrgID, u.LoginName, preferredLanguage(u.Traits)
		case !failure.Is(err, failure.KindNotFound):
			return language.Und, mail.Brand{}, "", err
		}
	}
	sett, err := settings.Effective(ctx, a.DB, r.InstanceID, orgID)
	if err != nil {
		return language.Und, mail.Brand{}, "", err
	}
	b := sett.Branding
	brand := mail.Brand{PrimaryColor: b.PrimaryColor, BackgroundColor: b.BackgroundColor, FontColor: b.FontColor}
	inst, err := instance.ByID(ctx, a.DB, r.InstanceID)
	switch {
	case err == nil:
		brand.Name = inst.Name
	case !failure.Is(err, failure.KindNotFound):
		return language.Und, mail.Brand{}, "", err
	}
	lang := mail.Choose(preferred, sett.Privacy.DefaultLanguage)
	base, _ := lang.Base()
	brand.Texts = sett.Texts.Languages[base.String()]
	return lang, brand, loginName, nil
}

// preferredLanguage returns the language the traits of a user of the
// default human schema prefer, "" for none.
func preferredLanguage(traits json.RawMessage) string {
	var t struct {
		Profile struct {
			PreferredLanguage string `json:"preferred_language"`
		} `json:"profile"`
	}
	if len(traits) == 0 || json.Unmarshal(traits, &t) != nil {
		return ""
	}
	return t.Profile.PreferredLanguage
}

// SendMail renders m for r and sends it through the email provider of r's
// instance (mail.Sender: the notices of the login and the user API). A
// message without a login name gets that of r's user.
func (a *App) SendMail(ctx context.Context, r mail.Recipient, m mail.Message) error {
	email, _, err := a.notifiersOf(ctx, r.InstanceID)
	if err != nil {
		return err
	}
	if email == nil {
		return failure.Unavailable("no %s provider is configured", credential.ChannelEmail)
	}
	lang, brand, loginName, err := a.styleOf(ctx, r)
	if err != nil {
		return err
	}
	if m.LoginName == "" {
		m.LoginName = loginName
	}
	e, err := mail.Render(lang, brand, m)
	if err != nil {
		return err
	}
	return email.Send(ctx, notify.Message{To: r.To, Subject: e.Subject, Text: e.Text, HTML: e.HTML})
}

// codeKinds are the messages of the purposes of codes.
var codeKinds = map[credential.Purpose]mail.Kind{
	credential.PurposeVerify:        mail.Verification,
	credential.PurposeSignIn:        mail.SignInCode,
	credential.PurposePasswordReset: mail.PasswordReset,
}

// SendCode delivers a code by email or SMS through the providers of its
// instance, in the words of its purpose and its user's language
// (credential.CodeSender). Without a provider for the channel, or when the
// provider cannot be reached, it is failure.Unavailable.
func (a *App) SendCode(ctx context.Context, c credential.OutgoingCode) error {
	kind, ok := codeKinds[c.Purpose]
	if !ok {
		return failure.Internal(nil, "a code of unknown purpose %q", c.Purpose)
	}
	m := mail.Message{Kind: kind, Data: mail.Data{Code: c.Code}}
	r := mail.Recipient{InstanceID: c.InstanceID, UserID: c.UserID, To: c.To}
	if c.Channel == credential.ChannelEmail {
		return a.SendMail(ctx, r, m)
	}
	_, sms, err := a.notifiersOf(ctx, c.InstanceID)
	if err != nil {
		return err
	}
	if sms == nil || c.Channel != credential.ChannelPhone {
		return failure.Unavailable("no %s provider is configured", c.Channel)
	}
	lang, brand, _, err := a.styleOf(ctx, r)
	if err != nil {
		return err
	}
	text, err := mail.RenderSMS(lang, brand, m)
	if err != nil {
		return err
	}
	return sms.Send(ctx, notify.Message{To: c.To, Text: text})
}

// WatchSignIns tells users by email of sign-ins from devices new to them
// (session.DeviceWatch) until ctx ends.
func (a *App) WatchSignIns(ctx context.Context) {
	a.deviceWatch().Run(ctx, a.Config.Subscriptions.PollInterval)
}

func (a *App) deviceWatch() *session.DeviceWatch {
	return &session.DeviceWatch{Store: a.Store, Tell: a.tellNewDevice, Log: a.Log}
}

// newDeviceTimeout bounds the notice of one sign-in from a new device.
const newDeviceTimeout = 30 * time.Second

// tellNewDevice mails the user of a sign-in from a new device at its
// verified email address; a user without one, or an instance without an
// email provider, is told nothing.
func (a *App) tellNewDevice(ctx context.Context, d session.NewDevice) error {
	ctx, cancel := context.WithTimeout(ctx, newDeviceTimeout)
	defer cancel()
	u, err := user.Get(ctx, a.DB, d.InstanceID, d.UserID, userschema.Admin)
	if failure.Is(err, failure.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if u.Email == "" || !u.EmailVerified {
		return nil
	}
	if email, _, err := a.notifiersOf(ctx, d.InstanceID); err != nil || email == nil {
		return err
	}
	return a.SendMail(ctx, mail.Recipient{InstanceID: u.InstanceID, UserID: u.ID, OrgID: u.OrgID, To: u.Email}, mail.Message{Kind: mail.NewDevice,
		Data: mail.Data{LoginName: u.LoginName, UserAgent: d.Client.UserAgent, Address: d.Client.Address, At: d.At}})
}
