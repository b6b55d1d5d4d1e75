package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/notify"
)

func testRing(t *testing.T) *keyring.Ring {
	t.Helper()
	k, err := keyring.GenerateKey()
	must(t, err)
	r, err := keyring.New(k)
	must(t, err)
	return r
}

const (
	smtpPassword = "smtp-password-never-shown"
	smsSecret    = "webhook-secret-of-24-bytes-or-more"
)

var server = Providers{SMTP: &SMTPProvider{Host: "mail.operator.example", From: "noreply@operator.example", Password: "operator-pw"}}

func TestNotificationProvidersAreSealedAndFallBackToTheServer(t *testing.T) {
	s, c := setup(t)
	keys := testRing(t)
	c = c.WithKeys(keys)

	got, err := NotificationProviders(ctx, s.DB(), keys, inst, server)
	must(t, err)
	if got.SMTP != server.SMTP || got.SMS != nil || got.Sources[ProviderSMTP] != LevelServer || got.Sources[ProviderSMS] != LevelServer {
		t.Fatalf("without settings: %+v", got)
	}

	mine := SMTPProvider{Host: "smtp.acme.example", Port: 2525, Username: "acme", Password: smtpPassword, From: "Acme <login@acme.example>", TLS: notify.TLSImplicit}
	must(t, c.SetSMTPProvider(ctx, editor, inst, mine, false))
	must(t, c.SetSMTPProvider(ctx, editor, inst, mine, false)) // the same: nothing
	must(t, c.SetSMSProvider(ctx, editor, inst, SMSProvider{URL: "https://sms.acme.example/send", Secret: smsSecret}))

	// Neither the events nor the read model hold a secret in clear.
	events, err := s.Query(ctx, eventstore.Filter{InstanceID: inst, AggregateTypes: []string{AggregateType}})
	must(t, err)
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	for _, e := range events {
		b, _ := json.Marshal(e.Payload)
		if bytes.Contains(b, []byte(smtpPassword)) || bytes.Contains(b, []byte(smsSecret)) {
			t.Fatalf("a secret in clear in %s: %s", e.Type, b)
		}
	}
	var pw, secret []byte
	must(t, s.DB().Reader().QueryRowContext(ctx, `SELECT smtp_password, sms_secret FROM notification_providers WHERE instance_id = $1`, inst).Scan(&pw, &secret))
	if len(pw) == 0 || len(secret) == 0 || bytes.Contains(pw, []byte(smtpPassword)) || bytes.Contains(secret, []byte(smsSecret)) {
		t.Fatalf("read model secrets: %q %q", pw, secret)
	}
	// A sealed secret is bound to its instance and purpose.
	if _, err := keys.Decrypt(pw, secretAD("inst-2", ProviderSMTP)); err == nil {
		t.Fatal("the SMTP password opens for another instance")
	}
	if _, err := keys.Decrypt(pw, secretAD(inst, ProviderSMS)); err == nil {
		t.Fatal("the SMTP password opens as the SMS secret")
	}

	got, err = NotificationProviders(ctx, s.DB(), keys, inst, server)
	must(t, err)
	if got.SMTP == nil || *got.SMTP != mine || got.SMS == nil || got.SMS.Secret != smsSecret || got.Sources[ProviderSMTP] != LevelInstance {
		t.Fatalf("instance providers: %+v %+v", got.SMTP, got.SMS)
	}

	// A change without a password keeps it; an explicit empty one drops it.
	mine.Host, mine.Password = "smtp2.acme.example", ""
	must(t, c.SetSMTPProvider(ctx, editor, inst, mine, true))
	got, _ = NotificationProviders(ctx, s.DB(), keys, inst, server)
	if got.SMTP.Host != "smtp2.acme.example" || got.SMTP.Password != smtpPassword {
		t.Fatalf("kept password: %+v", got.SMTP)
	}
	must(t, c.SetSMSProvider(ctx, editor, inst, SMSProvider{URL: "https://sms2.acme.example/send"}))
	got, _ = NotificationProviders(ctx, s.DB(), keys, inst, server)
	if got.SMS.URL != "https://sms2.acme.example/send" || got.SMS.Secret != smsSecret {
		t.Fatalf("kept secret: %+v", got.SMS)
	}

	// Reset falls back to the server; the other provider stays.
	must(t, c.ResetProvider(ctx, editor, inst, ProviderSMTP))
	must(t, c.ResetProvider(ctx, editor, inst, ProviderSMTP))
	got, _ = NotificationProviders(ctx, s.DB(), keys, inst, server)
	if got.SMTP != server.SMTP || got.Sources[ProviderSMTP] != LevelServer || got.SMS == nil {
		t.Fatalf("after reset: %+v", got)
	}
	wantKind(t, c.ResetProvider(ctx, editor, inst, "pigeon"), failure.KindInvalidArgument)

	// The read model is rebuilt from the events alike.
	if _, err := s.Rebuild(ctx, Projection{}.Name()); err != nil {
		t.Fatal(err)
	}
	again, err := NotificationProviders(ctx, s.DB(), keys, inst, server)
	must(t, err)
	if again.SMTP != server.SMTP || *again.SMS != *got.SMS {
		t.Fatalf("after a rebuild: %+v", again)
	}
}

func TestInvalidProvidersNameTheirFieldAndWriteNothing(t *testing.T) {
	ok := SMTPProvider{Host: "smtp.example.com", From: "a@example.com"}
	for _, tc := range []struct {
		name  string
		set   func(c *Commands) error
		field string
	}{
		{"fail/no host", func(c *Commands) error { p := ok; p.Host = ""; return c.SetSMTPProvider(ctx, editor, inst, p, false) }, "smtp.host"},
		{"fail/no sender", func(c *Commands) error { p := ok; p.From = ""; return c.SetSMTPProvider(ctx, editor, inst, p, false) }, "smtp.from"},
		{"fail/header injection in sender", func(c *Commands) error {
			p := ok
			p.From = "a@example.com\r\nBcc: x@example.com"
			return c.SetSMTPProvider(ctx, editor, inst, p, false)
		}, "smtp.from"},
		{"fail/clear text to a remote host", func(c *Commands) error {
			p := ok
			p.TLS = notify.TLSNone
			return c.SetSMTPProvider(ctx, editor, inst, p, false)
		}, "smtp.tls"},
		{"fail/port", func(c *Commands) error {
			p := ok
			p.Port = 70000
			return c.SetSMTPProvider(ctx, editor, inst, p, false)
		}, "smtp.port"},
		{"fail/password without user", func(c *Commands) error {
			p := ok
			p.Password = "x"
			return c.SetSMTPProvider(ctx, editor, inst, p, false)
		}, "smtp.username"},
		{"fail/no password to keep", func(c *Commands) error { return c.SetSMTPProvider(ctx, editor, inst, ok, true) }, "smtp.password"},
		{"fail/plain http webhook", func(c *Commands) error {
			return c.SetSMSProvider(ctx, editor, inst, SMSProvider{URL: "http://sms.example.com/", Secret: smsSecret})
		}, "sms.url"},
		{"fail/short webhook secret", func(c *Commands) error {
			return c.SetSMSProvider(ctx, editor, inst, SMSProvider{URL: "https://sms.example.com/", Secret: "short"})
		}, "sms.secret"},
		{"fail/no webhook secret to keep", func(c *Commands) error {
			return c.SetSMSProvider(ctx, editor, inst, SMSProvider{URL: "https://sms.example.com/"})
		}, "sms.secret"},
		{"fail/webhook URL too long", func(c *Commands) error {
			return c.SetSMSProvider(ctx, editor, inst, SMSProvider{URL: "https://sms.example.com/" + strings.Repeat("a", MaxURLBytes), Secret: smsSecret})
		}, "sms.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := setup(t)
			err := tc.set(c.WithKeys(testRing(t)))
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field {
				t.Fatalf("got %v, want invalid argument on %s", err, tc.field)
			}
			s.Then(t)
		})
	}
}

func TestNotificationProvidersReadModelOnEveryBackend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, append(slices.Clone(eventstore.Migrations), migrations()...))
		r := eventstore.NewRegistry()
		registerEvents(r)
		store, err := eventstore.New(db, r, projections(), eventstore.Options{})
		must(t, err)
		keys := testRing(t)
		c := NewCommands(store).WithKeys(keys)
		must(t, c.SetSMSProvider(ctx, editor, inst, SMSProvider{URL: "https://sms.example.com/", Secret: smsSecret}))
		must(t, c.SetSMTPProvider(ctx, editor, inst, SMTPProvider{Host: "smtp.example.com", From: "a@example.com"}, false))
		must(t, c.ResetProvider(ctx, editor, inst, ProviderSMS))
		got, err := NotificationProviders(ctx, db, keys, inst, Providers{})
		must(t, err)
		if got.SMS != nil || got.SMTP == nil || got.SMTP.Password != "" || got.Sources[ProviderSMTP] != LevelInstance {
			t.Fatalf("%+v", got)
		}
		other, err := NotificationProviders(ctx, db, keys, "inst-2", Providers{})
		must(t, err)
		if other.SMTP != nil || other.SMS != nil {
			t.Fatalf("another instance reads these providers: %+v", other)
		}
	})
}
