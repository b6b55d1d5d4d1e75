package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/notify"
	"github.com/castellan-iam/castellan/internal/notify/notifytest"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

// mailSink is a real SMTP server on loopback (notifytest.Mailbox).
type mailSink struct{ *notifytest.Mailbox }

func startMailSink(t *testing.T) *mailSink { return &mailSink{notifytest.Start(t)} }

// received returns the messages the sink accepted, oldest first; SMTP
// delivery is synchronous, so a Send that returned is in it.
func (s *mailSink) received() []string { return s.Messages() }

// smsSink is an SMS gateway: it checks the Standard Webhooks signature with
// secret and keeps the texts it receives.
type smsSink struct {
	url   string
	mu    sync.Mutex
	texts []string // to: text
}

func startSMSSink(t *testing.T, secret string) *smsSink {
	t.Helper()
	sink := &smsSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
		mac.Write(body)
		if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m struct{ To, Text string }
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sink.mu.Lock()
		sink.texts = append(sink.texts, m.To+": "+m.Text)
		sink.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	sink.url = srv.URL
	return sink
}

func (s *smsSink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// openWithSMTP opens a Castellan on SQLite whose configuration sends email
// through the SMTP server on port, and creates its first instance.
func openWithSMTP(t *testing.T, port int) (*App, string) {
	t.Helper()
	a, first := openFirstWithSMTP(t, port)
	return a, first.InstanceID
}

// openFirstWithSMTP is openWithSMTP with the first instance's organization
// and administrator.
func openFirstWithSMTP(t *testing.T, port int) (*App, setup.Result) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load([]string{"--data-dir", t.TempDir(), "--external-url", "http://localhost",
		"--passwords-argon2id-memory-kib", "8192", "--passwords-argon2id-iterations", "1",
		"--notify-smtp-host", "127.0.0.1", "--notify-smtp-port", strconv.Itoa(port), "--notify-smtp-tls", "none",
		"--notify-smtp-from", "Operator <noreply@operator.test>"}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	first, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{Name: "Test", Domain: "localhost", OrgName: "First",
		AdminLoginName: "admin", AdminPassword: "admin-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	return a, first
}

// verification is a contact code of no user in particular.
func verification(instanceID, channel, to, code string) credential.OutgoingCode {
	return credential.OutgoingCode{InstanceID: instanceID, Purpose: credential.PurposeVerify, Channel: channel, To: to, Code: code}
}

// wantMail checks that the latest of mails went to to, from from, with
// body in it.
func wantMail(t *testing.T, mails []string, n int, to, from, body string) {
	t.Helper()
	if len(mails) != n {
		t.Fatalf("%d mails, want %d:\n%s", len(mails), n, strings.Join(mails, "\n---\n"))
	}
	last := mails[n-1]
	if !strings.Contains(last, "To: <"+to+">") && !strings.Contains(last, "To: "+to) || !strings.Contains(last, from) || !strings.Contains(last, body) {
		t.Fatalf("want a mail to %s from %s with %q, got:\n%s", to, from, body, last)
	}
}

// Every message of an instance goes through the providers the instance
// sets, from its next message on, and through the server's configuration
// where it sets none; another instance is not affected.
func TestMessagesGoThroughTheInstancesProviders(t *testing.T) {
	ctx := context.Background()
	server, own := startMailSink(t), startMailSink(t)
	a, inst := openWithSMTP(t, server.Port)
	const other = "instance-without-settings"
	editor := eventstore.Editor{UserID: "admin"}
	commands := settings.NewCommands(a.Store).WithKeys(a.Keys)

	// Without settings: the server's SMTP server, no SMS.
	if err := a.SendCode(ctx, verification(inst, credential.ChannelEmail, "ada@example.com", "111111")); err != nil {
		t.Fatal(err)
	}
	wantMail(t, server.received(), 1, "ada@example.com", "noreply@operator.test", "111111")
	if err := a.SendCode(ctx, verification(inst, credential.ChannelPhone, "+41791234567", "222222")); !failure.Is(err, failure.KindUnavailable) {
		t.Fatalf("SMS without a provider: %v, want unavailable", err)
	}

	// The instance's own SMTP server and SMS webhook.
	if err := commands.SetSMTPProvider(ctx, editor, inst, settings.SMTPProvider{Host: "127.0.0.1", Port: own.Port, TLS: notify.TLSNone,
		From: "Acme <login@acme.test>"}, false); err != nil {
		t.Fatal(err)
	}
	const secret = "the-acme-webhook-secret-of-32-bytes"
	sms := startSMSSink(t, secret)
	if err := commands.SetSMSProvider(ctx, editor, inst, settings.SMSProvider{URL: sms.url + "/send", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	if err := a.SendCode(ctx, verification(inst, credential.ChannelEmail, "ada@example.com", "333333")); err != nil {
		t.Fatal(err)
	}
	wantMail(t, own.received(), 1, "ada@example.com", "login@acme.test", "333333")
	if err := a.SendCode(ctx, verification(inst, credential.ChannelPhone, "+41791234567", "444444")); err != nil {
		t.Fatal(err)
	}
	if got := sms.received(); len(got) != 1 || got[0] != "+41791234567: Your verification code is 444444 (Test)." {
		t.Fatalf("texts: %q", got)
	}
	// The notices of changes (mail.Sender) take the same way.
	if err := a.SendMail(ctx, mail.Recipient{InstanceID: inst, To: "ada@example.com"}, mail.Message{Kind: mail.AuthenticatorAdded,
		Data: mail.Data{LoginName: "ada", Authenticator: mail.Passkey, PasskeyName: "notice 555555"}}); err != nil {
		t.Fatal(err)
	}
	wantMail(t, own.received(), 2, "ada@example.com", "login@acme.test", "notice 555555")

	// Another instance still uses the server's configuration.
	if err := a.SendCode(ctx, verification(other, credential.ChannelEmail, "bob@example.com", "666666")); err != nil {
		t.Fatal(err)
	}
	wantMail(t, server.received(), 2, "bob@example.com", "noreply@operator.test", "666666")
	if err := a.SendCode(ctx, verification(other, credential.ChannelPhone, "+41791234567", "777777")); !failure.Is(err, failure.KindUnavailable) {
		t.Fatalf("SMS of another instance: %v, want unavailable", err)
	}

	// An instance provider that cannot be reached is unavailable, like the
	// server's; nothing falls back to the server's silently.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	if err := commands.SetSMTPProvider(ctx, editor, inst, settings.SMTPProvider{Host: "127.0.0.1", Port: port, TLS: notify.TLSNone,
		From: "Acme <login@acme.test>"}, false); err != nil {
		t.Fatal(err)
	}
	if err := a.SendCode(ctx, verification(inst, credential.ChannelEmail, "ada@example.com", "888888")); !failure.Is(err, failure.KindUnavailable) {
		t.Fatalf("unreachable SMTP server: %v, want unavailable", err)
	}
	if n := len(server.received()); n != 2 {
		t.Fatalf("the server's SMTP server got %d mails, want 2", n)
	}

	// Reset: the server's configuration again, from the next message on.
	if err := commands.ResetProvider(ctx, editor, inst, settings.ProviderSMTP); err != nil {
		t.Fatal(err)
	}
	if err := a.SendCode(ctx, verification(inst, credential.ChannelEmail, "ada@example.com", "999999")); err != nil {
		t.Fatal(err)
	}
	wantMail(t, server.received(), 3, "ada@example.com", "noreply@operator.test", "999999")
	if n := len(own.received()); n != 2 {
		t.Fatalf("the instance's former SMTP server got %d mails, want 2", n)
	}
}

// readMail parses a raw message of the sink: its decoded subject and its
// plain-text and HTML parts.
func readMail(t *testing.T, raw string) (subject, text, html string) {
	t.Helper()
	m, err := netmail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	parts := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := parts.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not multipart/alternative: %v\n%s", err, raw)
		}
		var body io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(p)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	return subject, text, html
}

// A user of an organization whose settings speak German gets its
// verification code in German, as text and as HTML in the organization's
// colours; a user of the same organization who prefers English gets it in
// English; a password reset's code says it resets the password; and the
// SMS is German too.
func TestCodesInTheUsersLanguage(t *testing.T) {
	ctx := context.Background()
	sink := startMailSink(t)
	a, first := openFirstWithSMTP(t, sink.Port)
	inst, editor := first.InstanceID, eventstore.Editor{UserID: "admin"}
	commands := settings.NewCommands(a.Store).WithKeys(a.Keys)
	if err := commands.Set(ctx, editor, inst, first.OrgID, settings.Privacy{DefaultLanguage: "de", AllowedLanguages: []string{"de", "en"}}); err != nil {
		t.Fatal(err)
	}
	if err := commands.Set(ctx, editor, inst, first.OrgID, settings.Branding{PrimaryColor: "#aa3300"}); err != nil {
		t.Fatal(err)
	}
	users := a.UserCommands()
	greta, err := users.Create(ctx, eventstore.SystemEditor, inst, user.New{OrgID: first.OrgID, Type: "human", LoginName: "greta",
		Password: "a good password 1", Email: "greta@example.com", Phone: "+41791234567"})
	if err != nil {
		t.Fatal(err)
	}
	ada, err := users.Create(ctx, eventstore.SystemEditor, inst, user.New{OrgID: first.OrgID, Type: "human", LoginName: "ada",
		Password: "a good password 1", Email: "ada@example.com", Traits: []byte(`{"profile":{"preferred_language":"en-GB"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile(`[0-9]{6}`)

	if err := users.SendContactCode(ctx, editor, inst, greta, credential.ChannelEmail, a.Keys, a.SendCode); err != nil {
		t.Fatal(err)
	}
	mails := sink.received()
	wantMail(t, mails, 1, "greta@example.com", "noreply@operator.test", "")
	subject, text, html := readMail(t, mails[0])
	sent := code.FindString(text)
	if subject != "Ihr Bestätigungscode für Test" || sent == "" || !strings.Contains(text, "Ihr Bestätigungscode lautet "+sent+".") {
		t.Fatalf("German mail: %q\n%s", subject, text)
	}
	if !strings.Contains(html, `lang="de"`) || !strings.Contains(html, "#aa3300") || !strings.Contains(html, sent) || !strings.Contains(html, "Bestätigen Sie Ihre Adresse") {
		t.Fatalf("German HTML:\n%s", html)
	}
	if err := users.VerifyContact(ctx, editor, inst, greta, credential.ChannelEmail, sent, a.Keys); err != nil {
		t.Fatalf("the code in the mail: %v", err)
	}

	if err := users.SendContactCode(ctx, editor, inst, ada, credential.ChannelEmail, a.Keys, a.SendCode); err != nil {
		t.Fatal(err)
	}
	wantMail(t, sink.received(), 2, "ada@example.com", "noreply@operator.test", "")
	if subject, text, _ := readMail(t, sink.received()[1]); subject != "Your verification code for Test" || !strings.Contains(text, "Your verification code is ") {
		t.Fatalf("English mail: %q\n%s", subject, text)
	}

	if err := a.SendCode(ctx, credential.OutgoingCode{InstanceID: inst, UserID: greta, Purpose: credential.PurposePasswordReset,
		Channel: credential.ChannelEmail, To: "greta@example.com", Code: "123456"}); err != nil {
		t.Fatal(err)
	}
	wantMail(t, sink.received(), 3, "greta@example.com", "noreply@operator.test", "")
	if subject, text, _ := readMail(t, sink.received()[2]); subject != "Setzen Sie Ihr Passwort bei Test zurück" ||
		!strings.Contains(text, "Passwort Ihres Kontos greta bei Test") || !strings.Contains(text, "123456") {
		t.Fatalf("German reset: %q\n%s", subject, text)
	}

	const secret = "the-first-webhook-secret-of-32-bytes"
	sms := startSMSSink(t, secret)
	if err := commands.SetSMSProvider(ctx, editor, inst, settings.SMSProvider{URL: sms.url + "/send", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	if err := users.SendContactCode(ctx, editor, inst, greta, credential.ChannelPhone, a.Keys, a.SendCode); err != nil {
		t.Fatal(err)
	}
	if got := sms.received(); len(got) != 1 || !regexp.MustCompile(`^\+41791234567: Ihr Bestätigungscode lautet [0-9]{6} \(Test\)\.$`).MatchString(got[0]) {
		t.Fatalf("texts: %q", got)
	}
}

// A user is mailed once of a sign-in from a device (user agent and
// address) its recent sessions did not come from, and not of one from a
// known device, nor of its first sign-in ever, nor of a sign-in that was
// already old when the watch reached it.
func TestNewDeviceMail(t *testing.T) {
	ctx := context.Background()
	sink := startMailSink(t)
	a, first := openFirstWithSMTP(t, sink.Port)
	inst := first.InstanceID
	const pw = "a good password 1"
	ada, err := a.UserCommands().Create(ctx, eventstore.SystemEditor, inst, user.New{OrgID: first.OrgID, Type: "human", LoginName: "ada",
		Password: pw, Email: "ada@example.com", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	laptop := session.Client{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", Address: "192.0.2.1"}
	phone := session.Client{UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Safari/604.1", Address: "198.51.100.9"}
	kiosk := session.Client{UserAgent: "Kiosk/1.0", Address: "203.0.113.5"}
	sessions := a.Sessions()
	signIn := func(c session.Client, password string) {
		t.Helper()
		p := password
		if _, _, _, err := sessions.Create(ctx, inst, c, session.Checks{User: &session.UserCheck{UserID: ada}, Password: &p}, session.Challenges{}); err != nil && password == pw {
			t.Fatal(err)
		}
	}
	watch := a.deviceWatch()
	catchUp := func(want int) {
		t.Helper()
		if err := watch.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if got := len(sink.received()); got != want {
			t.Fatalf("%d mails, want %d:\n%s", got, want, strings.Join(sink.received(), "\n---\n"))
		}
	}

	signIn(laptop, pw) // the first sign-in ever is no news
	catchUp(0)
	signIn(laptop, pw)
	catchUp(0)
	signIn(phone, "a wrong password") // no first factor proven, no device
	catchUp(0)
	signIn(phone, pw)
	catchUp(1)
	subject, text, html := readMail(t, sink.received()[0])
	if subject != "New sign-in to your account at Test" || !strings.Contains(text, "Safari/604.1") || !strings.Contains(text, "198.51.100.9") ||
		!strings.Contains(text, "Your account ada at Test") || !strings.Contains(html, "198.51.100.9") {
		t.Fatalf("the notice: %q\n%s", subject, text)
	}
	catchUp(1) // once
	signIn(phone, pw)
	signIn(laptop, pw)
	catchUp(1)

	// A sign-in the watch reaches late is recorded, not told; the device
	// is known afterwards.
	signIn(kiosk, pw)
	watch.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	catchUp(1)
	watch.Now = nil
	signIn(kiosk, pw)
	catchUp(1)

	// A device not seen within Recent (90 days) is new again.
	if err := a.DB.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE session_devices SET last_seen = last_seen - $1`, int64(91*24*time.Hour/time.Second))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	signIn(laptop, pw)
	catchUp(2)
	signIn(phone, pw) // as old, and then forgotten: new again
	catchUp(3)

	// Sign-ins the watch reaches in one round, each of its session: two
	// new devices told once each; a session's second password check,
	// from another client, is no new sign-in.
	tablet := session.Client{UserAgent: "Tablet/2.0", Address: "192.0.2.77"}
	tv := session.Client{UserAgent: "TV/1.0", Address: "192.0.2.88"}
	p := pw
	s, token, _, err := sessions.Create(ctx, inst, tablet, session.Checks{User: &session.UserCheck{UserID: ada}, Password: &p}, session.Challenges{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sessions.Update(ctx, inst, s.ID, token, kiosk, session.Checks{Password: &p}, session.Challenges{}); err != nil {
		t.Fatal(err)
	}
	signIn(tv, pw)
	catchUp(5)
	for i, want := range []string{"Tablet/2.0", "TV/1.0"} {
		if _, text, _ := readMail(t, sink.received()[3+i]); !strings.Contains(text, want) {
			t.Fatalf("notice %d is not of %s:\n%s", 4+i, want, text)
		}
	}
}
