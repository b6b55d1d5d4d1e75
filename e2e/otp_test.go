package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
	"github.com/castellan-iam/castellan/gen/castellan/instance/v1/instancev1connect"
	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/gen/castellan/session/v1/sessionv1connect"
	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/gen/castellan/settings/v1/settingsv1connect"
	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
)

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

// bodiesTo returns the bodies of the mails to to, oldest first.
func (b *mailbox) bodiesTo(to string) []string {
	var bodies []string
	for _, raw := range b.Messages() {
		m, err := mail.ReadMessage(strings.NewReader(raw))
		if err == nil && strings.Contains(m.Header.Get("To"), to) {
			body, _ := io.ReadAll(m.Body)
			bodies = append(bodies, string(body))
		}
	}
	return bodies
}

// codeAfter waits for a mail to to beyond the first seen and returns the
// six-digit code in the latest and the count of mails to to.
func (b *mailbox) codeAfter(t *testing.T, to string, seen int) (string, int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if bodies := b.bodiesTo(to); len(bodies) > seen {
			last := bodies[len(bodies)-1]
			code := sixDigits.FindString(last)
			if code == "" {
				t.Fatalf("no code in the mail:\n%s", last)
			}
			return code, len(bodies)
		}
	}
	t.Fatalf("no new mail to %s arrived (%d before)", to, seen)
	return "", 0
}

// otherThan returns a six-digit code that is not code.
func otherThan(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// smsGateway is an SMS gateway on loopback: it takes the Standard Webhooks
// POSTs Castellan sends, checks their signature with secret and keeps the
// texts.
type smsGateway struct {
	url    string
	secret string
	mu     sync.Mutex
	texts  []struct{ To, Text string }
	forged int // requests with a wrong signature
}

func startSMSGateway(t *testing.T, secret string) *smsGateway {
	g := &smsGateway{secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
		mac.Write(body)
		g.mu.Lock()
		defer g.mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get("webhook-signature")), []byte("v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))) {
			g.forged++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m struct{ To, Text string }
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		g.texts = append(g.texts, m)
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL + "/sms"
	return g
}

// codeAfter returns the six-digit code of the latest text to to, which
// must be beyond the first seen (a webhook is delivered before Castellan
// answers), and the count of texts to to.
func (g *smsGateway) codeAfter(t *testing.T, to string, seen int) (string, int) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	var texts []string
	for _, m := range g.texts {
		if m.To == to {
			texts = append(texts, m.Text)
		}
	}
	if g.forged > 0 || len(texts) <= seen {
		t.Fatalf("no new text to %s (%d before; %d with a wrong signature)", to, seen, g.forged)
	}
	code := sixDigits.FindString(texts[len(texts)-1])
	if code == "" {
		t.Fatalf("no code in the text %q", texts[len(texts)-1])
	}
	return code, len(texts)
}

func errMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return ""
}

// A person proves its email address and phone number, opts in to sign-in
// codes, and a login client signs it in through the Session API with its
// password and a code from its mailbox, then from a text message sent
// through the SMS webhook its instance sets.
func TestSignInWithEmailAndSMSCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		box := startMailbox(t)
		env := append(slices.Clone(b.env), "CASTELLAN_NOTIFY_SMTP_HOST=127.0.0.1", "CASTELLAN_NOTIFY_SMTP_PORT="+strconv.Itoa(box.Port),
			"CASTELLAN_NOTIFY_SMTP_TLS=none", "CASTELLAN_NOTIFY_SMTP_FROM=Castellan <noreply@castellan.test>")
		p := start(t, env)
		ctx := context.Background()
		token := func(login string) string {
			t.Helper()
			out, stderr, err := castellan(t, env, "tokens", "create", login, "1h")
			if err != nil {
				t.Fatalf("tokens create %s: %v\n%s", login, err, stderr)
			}
			return strings.TrimSpace(out)
		}
		admin := token("admin")
		users := userv1connect.NewUserServiceClient(http.DefaultClient, p.url)
		me, err := users.GetMyUser(ctx, authed(admin, &userv1.GetMyUserRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		org := me.Msg.GetUser().GetOrganizationId()

		// The person, with an address and a number not yet proven.
		const email, phone, password = "ada@acme.example", "+41791234567", "a good password 1"
		traits, _ := structpb.NewStruct(map[string]any{"profile": map[string]any{"given_name": "Ada", "family_name": "Lovelace"}})
		if _, err := users.CreateUser(ctx, authed(admin, &userv1.CreateUserRequest{OrganizationId: org, Type: "human", LoginName: "ada",
			Traits: traits, Email: email, Phone: phone, Password: password})); err != nil {
			t.Fatal(err)
		}
		// The login client: a machine user with the instance role
		// instance.login_client.
		machineTraits, _ := structpb.NewStruct(map[string]any{"name": "Login app"})
		app, err := users.CreateUser(ctx, authed(admin, &userv1.CreateUserRequest{OrganizationId: org, Type: "machine", LoginName: "login-app", Traits: machineTraits}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := instancev1connect.NewInstanceServiceClient(http.DefaultClient, p.url).AddInstanceMember(ctx, authed(admin,
			&instancev1.AddInstanceMemberRequest{UserId: app.Msg.GetUserId(), Roles: []string{"instance.login_client"}})); err != nil {
			t.Fatal(err)
		}
		ada, login := token("ada"), token("login-app")

		// Ada proves her address with a code from her mailbox and opts in.
		if _, err := users.SendMyVerificationCode(ctx, authed(ada, &userv1.SendMyVerificationCodeRequest{Channel: "email"})); err != nil {
			t.Fatal(err)
		}
		code, mails := box.codeAfter(t, email, 0)
		if _, err := users.VerifyMyContact(ctx, authed(ada, &userv1.VerifyMyContactRequest{Channel: "email", Code: code})); err != nil {
			t.Fatal(err)
		}
		authenticators := userv1connect.NewAuthenticatorServiceClient(http.DefaultClient, p.url)
		if _, err := authenticators.AddMyOTPEmail(ctx, authed(ada, &userv1.AddMyOTPEmailRequest{})); err != nil {
			t.Fatal(err)
		}
		// The notice of the new authenticator went out before the answer.
		bodies := box.bodiesTo(email)
		if len(bodies) != mails+1 || !strings.Contains(bodies[mails], "Sign-in codes by email were added to your account") {
			t.Fatalf("after AddMyOTPEmail, mails to %s: %q", email, bodies)
		}
		mails = len(bodies)

		// The login client signs her in: password, then a code by email.
		sessions := sessionv1connect.NewSessionServiceClient(http.DefaultClient, p.url)
		signIn := func() (*sessionv1.Session, string) {
			t.Helper()
			resp, err := sessions.CreateSession(ctx, authed(login, &sessionv1.CreateSessionRequest{Checks: &sessionv1.Checks{
				User: &sessionv1.UserCheck{Search: &sessionv1.UserCheck_LoginName{LoginName: "ada"}}, Password: &sessionv1.PasswordCheck{Password: password}}}))
			if err != nil {
				t.Fatal(err)
			}
			return resp.Msg.GetSession(), resp.Msg.GetSessionToken()
		}
		set := func(id, tok string, checks *sessionv1.Checks, challenges *sessionv1.Challenges) (*sessionv1.Session, error) {
			resp, err := sessions.SetSession(ctx, authed(login, &sessionv1.SetSessionRequest{SessionId: id, SessionToken: tok, Checks: checks, Challenges: challenges}))
			if err != nil {
				return nil, err
			}
			return resp.Msg.GetSession(), nil
		}
		s, sessionToken := signIn()
		if s.GetAuthenticated() || !slices.Contains(s.GetNext(), "otp_email") {
			t.Fatalf("after the password: authenticated %v, next %v", s.GetAuthenticated(), s.GetNext())
		}
		if _, err := set(s.GetId(), sessionToken, nil, &sessionv1.Challenges{OtpEmail: true}); err != nil {
			t.Fatal(err)
		}
		code, _ = box.codeAfter(t, email, mails)
		_, err = set(s.GetId(), sessionToken, &sessionv1.Checks{OtpEmail: &sessionv1.CodeCheck{Code: otherThan(code)}}, nil)
		if connect.CodeOf(err) != connect.CodeUnauthenticated || errMessage(err) != "the code is wrong" {
			t.Fatalf("a wrong code: %v", err)
		}
		s, err = set(s.GetId(), sessionToken, &sessionv1.Checks{OtpEmail: &sessionv1.CodeCheck{Code: code}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !s.GetAuthenticated() || !slices.Contains(s.GetAmr(), "pwd") || !slices.Contains(s.GetAmr(), "otp") || !slices.Contains(s.GetAmr(), "mfa") {
			t.Fatalf("after the code: authenticated %v, amr %v, next %v", s.GetAuthenticated(), s.GetAmr(), s.GetNext())
		}
		// The same code is refused the second time.
		again, againToken := signIn()
		_, err = set(again.GetId(), againToken, &sessionv1.Checks{OtpEmail: &sessionv1.CodeCheck{Code: code}}, nil)
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("the same code twice: %v", err)
		}

		// No SMS provider is configured on the server: a code to the phone
		// is unavailable until the instance sets its own gateway.
		_, err = users.SendMyVerificationCode(ctx, authed(ada, &userv1.SendMyVerificationCodeRequest{Channel: "phone"}))
		if connect.CodeOf(err) != connect.CodeUnavailable {
			t.Fatalf("a code by SMS without a gateway: %v", err)
		}
		gateway := startSMSGateway(t, "the-acme-gateway-secret-of-32-bytes")
		if _, err := settingsv1connect.NewSettingsServiceClient(http.DefaultClient, p.url).SetSmsProvider(ctx, authed(admin,
			&settingsv1.SetSmsProviderRequest{Url: gateway.url, Secret: gateway.secret})); err != nil {
			t.Fatal(err)
		}
		if _, err := users.SendMyVerificationCode(ctx, authed(ada, &userv1.SendMyVerificationCodeRequest{Channel: "phone"})); err != nil {
			t.Fatal(err)
		}
		code, texts := gateway.codeAfter(t, phone, 0)
		if _, err := users.VerifyMyContact(ctx, authed(ada, &userv1.VerifyMyContactRequest{Channel: "phone", Code: code})); err != nil {
			t.Fatal(err)
		}
		if _, err := authenticators.AddMyOTPSMS(ctx, authed(ada, &userv1.AddMyOTPSMSRequest{})); err != nil {
			t.Fatal(err)
		}
		s, sessionToken = signIn()
		if s.GetAuthenticated() || !slices.Contains(s.GetNext(), "otp_sms") || !slices.Contains(s.GetNext(), "otp_email") {
			t.Fatalf("after the password: authenticated %v, next %v", s.GetAuthenticated(), s.GetNext())
		}
		if _, err := set(s.GetId(), sessionToken, nil, &sessionv1.Challenges{OtpSms: true}); err != nil {
			t.Fatal(err)
		}
		code, _ = gateway.codeAfter(t, phone, texts)
		_, err = set(s.GetId(), sessionToken, &sessionv1.Checks{OtpSms: &sessionv1.CodeCheck{Code: otherThan(code)}}, nil)
		if connect.CodeOf(err) != connect.CodeUnauthenticated || errMessage(err) != "the code is wrong" {
			t.Fatalf("a wrong code: %v", err)
		}
		s, err = set(s.GetId(), sessionToken, &sessionv1.Checks{OtpSms: &sessionv1.CodeCheck{Code: code}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !s.GetAuthenticated() || !slices.Contains(s.GetAmr(), "otp") || !slices.Contains(s.GetAmr(), "sms") || !slices.Contains(s.GetAmr(), "mfa") {
			t.Fatalf("after the SMS code: authenticated %v, amr %v, next %v", s.GetAuthenticated(), s.GetAmr(), s.GetNext())
		}
		again, againToken = signIn()
		_, err = set(again.GetId(), againToken, &sessionv1.Checks{OtpSms: &sessionv1.CodeCheck{Code: code}}, nil)
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("the same SMS code twice: %v", err)
		}
	})
}
