package e2e

import (
	"context"
	"io"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/notify/notifytest"
)

// mailbox is a real SMTP server on loopback (notifytest.Mailbox) with the
// look-ups these tests need.
type mailbox struct{ *notifytest.Mailbox }

func startMailbox(t *testing.T) *mailbox { return &mailbox{notifytest.Start(t)} }

func (b *mailbox) waitFor(t *testing.T, to string) *mail.Message {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, raw := range b.Messages() {
			m, err := mail.ReadMessage(strings.NewReader(raw))
			if err == nil && strings.Contains(m.Header.Get("To"), to) {
				return m
			}
		}
	}
	t.Fatalf("no mail to %s arrived", to)
	return nil
}

// A user proves its email address with a code that Castellan sends through
// a real SMTP server.
func TestEmailVerificationThroughSMTP(t *testing.T) {
	box := startMailbox(t)
	env := []string{"CASTELLAN_DATA_DIR=" + t.TempDir(), "CASTELLAN_NOTIFY_SMTP_HOST=127.0.0.1",
		"CASTELLAN_NOTIFY_SMTP_PORT=" + strconv.Itoa(box.Port), "CASTELLAN_NOTIFY_SMTP_TLS=none",
		"CASTELLAN_NOTIFY_SMTP_FROM=Castellan <noreply@castellan.test>"}
	p := start(t, env)
	token, _, err := castellan(t, env, "tokens", "create", "admin")
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(token)
	c := userv1connect.NewUserServiceClient(http.DefaultClient, p.url)
	ctx := context.Background()

	me, err := c.GetMyUser(ctx, authed(token, &userv1.GetMyUserRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	email := "admin@acme.example"
	if _, err := c.UpdateUser(ctx, authed(token, &userv1.UpdateUserRequest{UserId: me.Msg.GetUser().GetId(), Email: &email})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMyVerificationCode(ctx, authed(token, &userv1.SendMyVerificationCodeRequest{Channel: "email"})); err != nil {
		t.Fatal(err)
	}
	m := box.waitFor(t, email)
	if !strings.Contains(m.Header.Get("From"), "noreply@castellan.test") || m.Header.Get("Subject") == "" {
		t.Fatalf("headers: %v", m.Header)
	}
	body, _ := io.ReadAll(m.Body)
	code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(string(body))
	if code == "" {
		t.Fatalf("no code in the mail:\n%s", body)
	}
	if _, err := c.VerifyMyContact(ctx, authed(token, &userv1.VerifyMyContactRequest{Channel: "email", Code: code})); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetMyUser(ctx, authed(token, &userv1.GetMyUserRequest{}))
	if err != nil || !got.Msg.GetUser().GetEmailVerified() {
		t.Fatalf("email not verified: %v %v", got, err)
	}
	// Without an SMS gateway, sending to the phone is unavailable.
	phone := "+41791234567"
	if _, err := c.UpdateUser(ctx, authed(token, &userv1.UpdateUserRequest{UserId: me.Msg.GetUser().GetId(), Phone: &phone})); err != nil {
		t.Fatal(err)
	}
	_, err = c.SendMyVerificationCode(ctx, authed(token, &userv1.SendMyVerificationCodeRequest{Channel: "phone"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("SMS without a gateway: %v", err)
	}
}

func authed[T any](token string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set("Authorization", "Bearer "+token)
	return r
}
