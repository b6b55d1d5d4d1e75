package settings

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/notify"
)

// Notification providers are settings of the instance level only: the
// SMTP server email goes through and the webhook text messages go to. An
// instance that sets neither uses the server's configuration (notify.smtp,
// notify.sms), reported as LevelServer. Their secrets (the SMTP password,
// the webhook's signing secret) are sealed with the key ring in the event,
// under associated data naming the instance and the secret's purpose, and
// stay sealed in the read model; nothing that shows providers returns them.

// LevelServer is the server's configuration, the default of the providers.
const LevelServer Level = "server"

// Provider names a notification provider.
type Provider string

// The providers.
const (
	ProviderSMTP Provider = "smtp"
	ProviderSMS  Provider = "sms"
)

// SMTPProvider is the SMTP submission server of an instance's email. TLS
// is notify.TLSStartTLS (empty: the same), notify.TLSImplicit or
// notify.TLSNone (loopback only); Port 0 is the TLS mode's port.
type SMTPProvider struct {
	Host     string
	Port     int
	Username string
	// Password is the plain password: on the way in (SetSMTPProvider) and
	// out (Providers) only.
	Password string
	From     string
	TLS      string
}

// SMSProvider is the gateway an instance's text messages are POSTed to,
// signed per Standard Webhooks with Secret (at least 24 bytes).
type SMSProvider struct {
	URL    string
	Secret string
}

// SMTPProviderSet sets the instance's SMTP server.
type SMTPProviderSet struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	From     string `json:"from"`
	TLS      string `json:"tls"`
	// PasswordSealed is the password sealed by the key ring (see
	// secretAD), or empty for none.
	PasswordSealed []byte `json:"passwordSealed,omitempty"`
}

// SMTPProviderReset falls back to the server's SMTP configuration.
type SMTPProviderReset struct{}

// SMSProviderSet sets the instance's SMS webhook.
type SMSProviderSet struct {
	URL          string `json:"url"`
	SecretSealed []byte `json:"secretSealed"`
}

// SMSProviderReset falls back to the server's SMS configuration.
type SMSProviderReset struct{}

func (SMTPProviderSet) EventType() string   { return "settings.notify.smtp.set" }
func (SMTPProviderReset) EventType() string { return "settings.notify.smtp.reset" }
func (SMSProviderSet) EventType() string    { return "settings.notify.sms.set" }
func (SMSProviderReset) EventType() string  { return "settings.notify.sms.reset" }

func registerNotificationEvents(r *eventstore.Registry) {
	eventstore.Register[SMTPProviderSet](r, 1)
	eventstore.Register[SMTPProviderReset](r, 1)
	eventstore.Register[SMSProviderSet](r, 1)
	eventstore.Register[SMSProviderReset](r, 1)
}

func notificationEventTypes() []string {
	return eventstore.TypesOf(&SMTPProviderSet{}, &SMTPProviderReset{}, &SMSProviderSet{}, &SMSProviderReset{})
}

// secretAD binds a sealed secret to its instance and purpose, so that it
// cannot be replayed in another instance or as another secret.
func secretAD(instanceID string, p Provider) []byte {
	return []byte("castellan/settings/notify/" + string(p) + "-secret/" + instanceID)
}

// WithKeys returns the commands with the key ring that seals provider
// secrets; the provider commands need it.
func (c *Commands) WithKeys(keys *keyring.Ring) *Commands {
	cp := *c
	cp.keys = keys
	return &cp
}

// prefixed renames the field of a notify check's error to the API's name.
func prefixed(prefix string, err error) error {
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Kind == failure.KindInvalidArgument {
		return failure.InvalidArgument(prefix+"."+fe.Field, "%s", fe.Message)
	}
	return err
}

// SetSMTPProvider sets the instance's SMTP server. With keepPassword the
// password of the provider set before is kept (p.Password is ignored);
// otherwise p.Password replaces it (empty: none). Setting the provider set
// already appends nothing; an invalid one is failure.InvalidArgument
// naming "smtp.<field>".
func (c *Commands) SetSMTPProvider(ctx context.Context, editor eventstore.Editor, instanceID string, p SMTPProvider, keepPassword bool) error {
	if c.keys == nil {
		return errors.New("settings: provider commands need the key ring (WithKeys)")
	}
	m, err := c.load(ctx, instanceID, "")
	if err != nil {
		return err
	}
	var sealed []byte
	if keepPassword {
		if m.smtp == nil || len(m.smtp.PasswordSealed) == 0 {
			return failure.InvalidArgument("smtp.password", "there is no password to keep: send one")
		}
		sealed = m.smtp.PasswordSealed
		plain, err := c.keys.Decrypt(sealed, secretAD(instanceID, ProviderSMTP))
		if err != nil {
			return fmt.Errorf("settings: open the SMTP password: %w", err)
		}
		p.Password = string(plain)
	}
	if p.From == "" {
		return failure.InvalidArgument("smtp.from", "required")
	}
	if _, err := notify.NewSMTP(notify.SMTPConfig{Host: p.Host, Port: p.Port, Username: p.Username, Password: p.Password, From: p.From, TLS: p.TLS}); err != nil {
		return prefixed("smtp", err)
	}
	e := &SMTPProviderSet{Host: p.Host, Port: p.Port, Username: p.Username, From: p.From, TLS: p.TLS}
	if m.smtp != nil && len(m.smtp.PasswordSealed) > 0 && !keepPassword {
		old, err := c.keys.Decrypt(m.smtp.PasswordSealed, secretAD(instanceID, ProviderSMTP))
		if err == nil && string(old) == p.Password {
			keepPassword, sealed = true, m.smtp.PasswordSealed
		}
	}
	switch {
	case keepPassword:
		e.PasswordSealed = sealed
	case p.Password != "":
		if e.PasswordSealed, err = c.keys.Encrypt([]byte(p.Password), secretAD(instanceID, ProviderSMTP)); err != nil {
			return err
		}
	}
	if m.smtp != nil && m.smtp.Host == e.Host && m.smtp.Port == e.Port && m.smtp.Username == e.Username &&
		m.smtp.From == e.From && m.smtp.TLS == e.TLS && slices.Equal(m.smtp.PasswordSealed, e.PasswordSealed) {
		return nil
	}
	return c.push(ctx, editor, m, e)
}

// SetSMSProvider sets the instance's SMS webhook. An empty p.Secret keeps
// the secret of the webhook set before.
func (c *Commands) SetSMSProvider(ctx context.Context, editor eventstore.Editor, instanceID string, p SMSProvider) error {
	if c.keys == nil {
		return errors.New("settings: provider commands need the key ring (WithKeys)")
	}
	m, err := c.load(ctx, instanceID, "")
	if err != nil {
		return err
	}
	ad := secretAD(instanceID, ProviderSMS)
	keep := p.Secret == ""
	if keep {
		if m.sms == nil {
			return failure.InvalidArgument("sms.secret", "required")
		}
		plain, err := c.keys.Decrypt(m.sms.SecretSealed, ad)
		if err != nil {
			return fmt.Errorf("settings: open the SMS webhook secret: %w", err)
		}
		p.Secret = string(plain)
	}
	if _, err := notify.NewSMSWebhook(notify.WebhookConfig{URL: p.URL, Secret: []byte(p.Secret)}); err != nil {
		return prefixed("sms", err)
	}
	if err := checkURL("sms.url", p.URL); err != nil {
		return err
	}
	e := &SMSProviderSet{URL: p.URL}
	if m.sms != nil {
		if old, err := c.keys.Decrypt(m.sms.SecretSealed, ad); err == nil && string(old) == p.Secret {
			e.SecretSealed = m.sms.SecretSealed
			if m.sms.URL == p.URL {
				return nil
			}
		}
	}
	if e.SecretSealed == nil {
		if e.SecretSealed, err = c.keys.Encrypt([]byte(p.Secret), ad); err != nil {
			return err
		}
	}
	return c.push(ctx, editor, m, e)
}

// ResetProvider falls back to the server's configuration for provider p;
// resetting a provider the instance does not set appends nothing.
func (c *Commands) ResetProvider(ctx context.Context, editor eventstore.Editor, instanceID string, p Provider) error {
	m, err := c.load(ctx, instanceID, "")
	if err != nil {
		return err
	}
	switch {
	case p == ProviderSMTP && m.smtp != nil:
		return c.push(ctx, editor, m, &SMTPProviderReset{})
	case p == ProviderSMS && m.sms != nil:
		return c.push(ctx, editor, m, &SMSProviderReset{})
	case p != ProviderSMTP && p != ProviderSMS:
		return failure.InvalidArgument("provider", "%q is not a provider; the providers are smtp and sms", p)
	}
	return nil
}

// Providers are an instance's notification providers in force: nil when
// none is, with where each comes from (LevelInstance or LevelServer).
type Providers struct {
	SMTP    *SMTPProvider
	SMS     *SMSProvider
	Sources map[Provider]Level
}

// NotificationProviders reads the providers instance instanceID sets,
// with their secrets opened by keys, and takes those it does not set from
// server (the server's configuration; nil: none).
func NotificationProviders(ctx context.Context, db *database.DB, keys *keyring.Ring, instanceID string, server Providers) (Providers, error) {
	out := Providers{SMTP: server.SMTP, SMS: server.SMS, Sources: map[Provider]Level{ProviderSMTP: LevelServer, ProviderSMS: LevelServer}}
	var (
		host, username, from, tls, url string
		port                           int
		smtpSealed, smsSealed          []byte
	)
	err := db.Reader().QueryRowContext(ctx, `SELECT smtp_host, smtp_port, smtp_username, smtp_from, smtp_tls, smtp_password, sms_url, sms_secret
FROM notification_providers WHERE instance_id = $1`, instanceID).Scan(&host, &port, &username, &from, &tls, &smtpSealed, &url, &smsSealed)
	if errors.Is(err, sql.ErrNoRows) {
		return out, nil
	}
	if err != nil {
		return Providers{}, fmt.Errorf("settings: providers of %s: %w", instanceID, err)
	}
	open := func(sealed []byte, p Provider) (string, error) {
		if len(sealed) == 0 {
			return "", nil
		}
		plain, err := keys.Decrypt(sealed, secretAD(instanceID, p))
		if err != nil {
			return "", fmt.Errorf("settings: open the %s secret of %s: %w", p, instanceID, err)
		}
		return string(plain), nil
	}
	if host != "" {
		pw, err := open(smtpSealed, ProviderSMTP)
		if err != nil {
			return Providers{}, err
		}
		out.SMTP = &SMTPProvider{Host: host, Port: port, Username: username, Password: pw, From: from, TLS: tls}
		out.Sources[ProviderSMTP] = LevelInstance
	}
	if url != "" {
		secret, err := open(smsSealed, ProviderSMS)
		if err != nil {
			return Providers{}, err
		}
		out.SMS = &SMSProvider{URL: url, Secret: secret}
		out.Sources[ProviderSMS] = LevelInstance
	}
	return out, nil
}
