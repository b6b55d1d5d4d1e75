package login_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/login"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// account is a test of the account pages: the login's handler on a
// server of its own, with a clock the test moves (the sessions') and the
// verification codes it sends kept.
type account struct {
	*browser
	// skew moves the sessions' clock ahead of the real one.
	skew   atomic.Int64
	ts     *httptest.Server
	routes map[string]http.Handler
	userID string
	mu     sync.Mutex
	codes  map[string]string // the last code sent to each address
}

const alicePassword = "a good password 1"

// startAccount starts the login with alice, a user with a password and an
// unverified email address, signed in.
func startAccount(t *testing.T) *account {
	cfg, err := config.Load([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost",
		"--passwords-argon2id-memory-kib", "8192", "--passwords-argon2id-iterations", "1"}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	first, err := setup.Run(ctx, a.Store, a.Hasher, setup.FirstInstance{Name: "Test", Domain: "localhost", OrgName: "First", AdminLoginName: "admin", AdminPassword: "admin-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	acc := &account{codes: map[string]string{}}
	clock := func() time.Time { return time.Now().Add(time.Duration(acc.skew.Load())) }
	h, err := login.New(login.Deps{DB: a.DB, Sessions: a.Sessions().WithClock(clock), Users: a.UserCommands(), Keys: a.Keys,
		Passkeys: a.Passkeys(), SendCode: func(_ context.Context, c credential.OutgoingCode) error {
			acc.mu.Lock()
			defer acc.mu.Unlock()
			acc.codes[c.To] = c.Code
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Logger: slog.New(slog.DiscardHandler), Resolver: instance.NewResolver(a.DB),
		Metrics: prometheus.NewRegistry(), ExternalURL: "http://localhost"})
	acc.routes = h.Routes()
	for p, handler := range acc.routes {
		srv.Handle(p, handler)
	}
	acc.ts = httptest.NewServer(srv)
	t.Cleanup(acc.ts.Close)
	u, _ := url.Parse(acc.ts.URL)
	jar, _ := cookiejar.New(nil)
	acc.browser = &browser{t: t, base: "http://localhost:" + u.Port(), app: a, first: first, client: &http.Client{Jar: jar}}
	acc.userID, err = a.UserCommands().Create(ctx, eventstore.SystemEditor, first.InstanceID,
		user.New{OrgID: first.OrgID, Type: "human", LoginName: "alice", Password: alicePassword, Email: "alice@example.com",
			Traits: []byte(`{"profile":{"given_name":"Alice"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	acc.signIn(acc.browser, "alice", alicePassword)
	return acc
}

// another is a second browser of the same server.
func (a *account) another() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: a.t, base: a.base, app: a.app, first: a.first, client: &http.Client{Jar: jar}}
}

func (a *account) signIn(b *browser, name, pw string) {
	a.t.Helper()
	b.post("/ui/login/", "/ui/login/", "loginName", name)
	if status, path, page := b.post("/ui/login/password", "/ui/login/password", "password", pw); path != "/ui/login/done" {
		a.t.Fatalf("sign-in of %s: %d %s\n%s", name, status, path, page)
	}
}

func (a *account) code(to string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.codes[to]
}

// later moves the sessions' clock past the re-authentication window.
func (a *account) later() { a.skew.Add(int64(11 * time.Minute)) }

func TestAccountNeedsASignedInUser(t *testing.T) {
	a := startAccount(t)
	pages := []string{"/ui/account/", "/ui/account/contact", "/ui/account/password", "/ui/account/authenticators", "/ui/account/sessions", "/ui/account/confirm"}
	for _, p := range pages {
		if status, path, page := a.get(p); status != 200 || path != p || !strings.Contains(page, "alice") {
			t.Fatalf("signed in, %s: %d %s\n%s", p, status, path, page)
		}
	}
	// A stranger, and a browser whose sign-in is half done (a name, no
	// password), are sent to sign in.
	half := a.another()
	half.post("/ui/login/", "/ui/login/", "loginName", "alice")
	for _, b := range []*browser{a.another(), half} {
		for _, p := range pages {
			if status, path, page := b.get(p); status != 200 || path != "/ui/login/" || strings.Contains(page, "alice@example.com") {
				t.Fatalf("not signed in, %s: %d %s\n%s", p, status, path, page)
			}
		}
		req, _ := http.NewRequest(http.MethodPost, b.base+"/ui/account/sessions/end-others", strings.NewReader("csrf=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if _, path, _ := b.do(req); path != "/ui/login/" {
			t.Fatalf("a post not signed in went to %s", path)
		}
	}
	// Signed out, the account is gone from the browser.
	a.post("/ui/account/", "/ui/login/logout")
	if _, path, _ := a.get("/ui/account/"); path != "/ui/login/" {
		t.Fatalf("after sign-out: %s", path)
	}
}

func TestAccountOverview(t *testing.T) {
	a := startAccount(t)
	_, _, page := a.get("/ui/account/")
	for _, want := range []string{"alice", "alice@example.com", "not verified", `action="/ui/login/logout"`,
		`href="/ui/account/profile"`, `href="/ui/account/contact"`, `href="/ui/account/password"`, `href="/ui/account/authenticators"`, `href="/ui/account/sessions"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the overview lacks %q:\n%s", want, page)
		}
	}
}

// Every post of the account pages needs the browser's form token.
func TestAccountFormsNeedTheirToken(t *testing.T) {
	a := startAccount(t)
	a.get("/ui/account/")
	var posts []string
	for p := range a.routes {
		if path, ok := strings.CutPrefix(p, "POST /ui/account/"); ok {
			posts = append(posts, "/ui/account/"+strings.ReplaceAll(path, "{channel}", "email"))
		}
	}
	slices.Sort(posts)
	if len(posts) < 12 {
		t.Fatalf("only %d posts: %v", len(posts), posts)
	}
	for _, p := range posts {
		for _, token := range []string{"", "forged-token-forged-token-forged-token-forg"} {
			req, _ := http.NewRequest(http.MethodPost, a.base+p, strings.NewReader(url.Values{"csrf": {token}, "action": {"add"}, "code": {"123456"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if status, _, page := a.do(req); status != http.StatusForbidden || !strings.Contains(page, "The form has expired") {
				t.Fatalf("%s with token %q: %d\n%s", p, token, status, page)
			}
		}
	}
	// Nothing of those posts happened: the session is still there, and
	// alice has no authenticator.
	if _, path, _ := a.get("/ui/account/"); path != "/ui/account/" {
		t.Fatalf("the forged posts signed alice out: %s", path)
	}
	auth, err := a.app.UserCommands().Authenticators(ctx, a.first.InstanceID, a.userID)
	if err != nil || auth.TOTP || auth.TOTPPending || auth.RecoveryCodesLeft > 0 || auth.SignInCodeEmail {
		t.Fatalf("after forged posts: %+v %v", auth, err)
	}
}

func TestAccountPasswordNeedsTheCurrentOne(t *testing.T) {
	a := startAccount(t)
	status, _, page := a.post("/ui/account/password", "/ui/account/password",
		"currentPassword", "not the password", "newPassword", "a new password 2", "repeat", "a new password 2")
	if status != http.StatusBadRequest || !strings.Contains(page, "The current password is wrong.") {
		t.Fatalf("a wrong current password: %d\n%s", status, page)
	}
	status, _, page = a.post("/ui/account/password", "/ui/account/password",
		"currentPassword", alicePassword, "newPassword", "a new password 2", "repeat", "another one")
	if status != http.StatusBadRequest || !strings.Contains(page, "The passwords differ.") {
		t.Fatalf("a repeat that differs: %d\n%s", status, page)
	}
	users := a.app.UserCommands()
	if _, err := users.CheckPassword(ctx, a.first.InstanceID, "alice", alicePassword); err != nil {
		t.Fatalf("the password changed on a refusal: %v", err)
	}
	status, path, page := a.post("/ui/account/password", "/ui/account/password",
		"currentPassword", alicePassword, "newPassword", "a new password 2", "repeat", "a new password 2")
	if status != 200 || path != "/ui/account/password" || !strings.Contains(page, "Your password is changed.") {
		t.Fatalf("a change: %d %s\n%s", status, path, page)
	}
	if _, err := users.CheckPassword(ctx, a.first.InstanceID, "alice", "a new password 2"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := users.CheckPassword(ctx, a.first.InstanceID, "alice", alicePassword); err == nil {
		t.Fatal("the old password still holds")
	}
}

var secretOnPage = regexp.MustCompile(`<code>([A-Z2-7]+)</code>`)

func TestAccountTOTP(t *testing.T) {
	a := startAccount(t)
	status, _, page := a.post("/ui/account/authenticators", "/ui/account/totp")
	secret := secretOnPage.FindStringSubmatch(page)
	if status != 200 || secret == nil || !strings.Contains(page, `src="data:image/png;base64,`) {
		t.Fatalf("adding TOTP: %d\n%s", status, page)
	}
	status, _, page = a.post("/ui/account/authenticators", "/ui/account/totp/verify", "code", "000000")
	if status != http.StatusBadRequest || !strings.Contains(page, "The code is wrong.") {
		t.Fatalf("a wrong first code: %d\n%s", status, page)
	}
	first, _ := totp.GenerateCode(secret[1], time.Now().Add(-30*time.Second))
	status, path, page := a.post("/ui/account/authenticators", "/ui/account/totp/verify", "code", first)
	// The session now lacks the second factor alice has: the page asks
	// for its next code, and returns.
	if status != 200 || path != "/ui/account/second-factor" || !strings.Contains(page, "Authenticator app code") {
		t.Fatalf("the first code: %d %s\n%s", status, path, page)
	}
	if _, path, _ := a.get("/ui/account/sessions"); path != "/ui/account/second-factor" {
		t.Fatalf("without its second factor, the session reached %s", path)
	}
	now, _ := totp.GenerateCode(secret[1], time.Now())
	if now == first {
		t.Skip("the previous and the current step have the same code")
	}
	status, path, page = a.post("/ui/account/second-factor?next=/ui/account/authenticators?done=totp-added", "/ui/account/second-factor",
		"factor", "totp", "code", now, "next", "/ui/account/authenticators?done=totp-added")
	if status != 200 || path != "/ui/account/authenticators" || !strings.Contains(page, "Your authenticator app is set up.") ||
		!strings.Contains(page, `action="/ui/account/totp/remove"`) {
		t.Fatalf("the next code: %d %s\n%s", status, path, page)
	}
	if auth, _ := a.app.UserCommands().Authenticators(ctx, a.first.InstanceID, a.userID); !auth.TOTP {
		t.Fatalf("not stored: %+v", auth)
	}
	status, path, page = a.post("/ui/account/authenticators", "/ui/account/totp/remove")
	if status != 200 || path != "/ui/account/authenticators" || !strings.Contains(page, "Your authenticator app is removed.") ||
		!strings.Contains(page, `action="/ui/account/totp"`) {
		t.Fatalf("removing: %d %s\n%s", status, path, page)
	}
	if auth, _ := a.app.UserCommands().Authenticators(ctx, a.first.InstanceID, a.userID); auth.TOTP {
		t.Fatalf("not removed: %+v", auth)
	}
}

// Past the re-authentication window, a change of authenticators asks for
// the password first, and goes through once it is given.
func TestAccountSensitiveChangesNeedARecentCheck(t *testing.T) {
	a := startAccount(t)
	if _, err := a.app.UserCommands().GenerateRecoveryCodes(ctx, eventstore.SystemEditor, a.first.InstanceID, a.userID); err != nil {
		t.Fatal(err)
	}
	a.later()
	status, path, page := a.post("/ui/account/authenticators", "/ui/account/recovery-codes/remove")
	if status != 200 || path != "/ui/account/confirm" || !strings.Contains(page, `name="password"`) {
		t.Fatalf("an old check: %d %s\n%s", status, path, page)
	}
	if auth, _ := a.app.UserCommands().Authenticators(ctx, a.first.InstanceID, a.userID); auth.RecoveryCodesLeft == 0 {
		t.Fatal("removed without a recent check")
	}
	// Not a page elsewhere to return to.
	status, path, _ = a.post("/ui/account/confirm?next=https://evil.example/", "/ui/account/confirm", "password", alicePassword, "next", "https://evil.example/")
	if status != 200 || path != "/ui/account/" {
		t.Fatalf("a foreign next: %d %s", status, path)
	}
	before, err := a.app.Sessions().GetByID(ctx, a.first.InstanceID, a.sessionID(a.browser))
	if err != nil {
		t.Fatal(err)
	}
	status, _, page = a.post("/ui/account/confirm", "/ui/account/confirm", "password", "wrong", "next", "/ui/account/authenticators")
	if status != http.StatusUnauthorized || !strings.Contains(page, "The password is wrong.") {
		t.Fatalf("a wrong password: %d\n%s", status, page)
	}
	status, path, _ = a.post("/ui/account/confirm", "/ui/account/confirm", "password", alicePassword, "next", "/ui/account/authenticators")
	if status != 200 || path != "/ui/account/authenticators" {
		t.Fatalf("confirmed: %d %s", status, path)
	}
	after, err := a.app.Sessions().GetByID(ctx, a.first.InstanceID, a.sessionID(a.browser))
	if err != nil || !after.Checks[session.FactorPassword].At.After(before.Checks[session.FactorPassword].At) {
		t.Fatalf("the confirmation checked no password: %v → %v (%v)", before.Checks, after.Checks, err)
	}
	// Within the window (the clock back at the check's time), the change
	// goes through.
	a.skew.Store(0)
	status, path, page = a.post("/ui/account/authenticators", "/ui/account/recovery-codes/remove")
	if status != 200 || path != "/ui/account/authenticators" || !strings.Contains(page, "Your recovery codes are removed.") {
		t.Fatalf("a recent check: %d %s\n%s", status, path, page)
	}
	if auth, _ := a.app.UserCommands().Authenticators(ctx, a.first.InstanceID, a.userID); auth.RecoveryCodesLeft != 0 {
		t.Fatal("not removed with a recent check")
	}
}

var recoveryCodes = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)

func TestAccountRecoveryCodesShownOnce(t *testing.T) {
	a := startAccount(t)
	status, _, page := a.post("/ui/account/authenticators", "/ui/account/recovery-codes")
	codes := recoveryCodes.FindAllStringSubmatch(page, -1)
	if status != 200 || len(codes) < 5 {
		t.Fatalf("new codes: %d\n%s", status, page)
	}
	for _, p := range []string{"/ui/account/authenticators", "/ui/account/", "/ui/account/recovery-codes"} {
		_, _, again := a.get(p)
		for _, c := range codes {
			if strings.Contains(again, c[1]) {
				t.Fatalf("%s shows the code %s again:\n%s", p, c[1], again)
			}
		}
	}
	if _, _, again := a.get("/ui/account/authenticators"); !strings.Contains(again, "Recovery codes left: "+strconv.Itoa(len(codes))) {
		t.Fatalf("the count of codes:\n%s", again)
	}
	// A code works once, as a recovery code.
	if err := a.app.UserCommands().CheckRecoveryCode(ctx, a.first.InstanceID, a.userID, codes[0][1]); err != nil {
		t.Fatalf("a shown code does not work: %v", err)
	}
}

func TestAccountSessions(t *testing.T) {
	a := startAccount(t)
	other := a.another()
	a.signIn(other, "alice", alicePassword)
	_, _, page := a.get("/ui/account/sessions")
	if strings.Count(page, `class="session"`) != 2 || !strings.Contains(page, "This browser") || !strings.Contains(page, "Another session") ||
		!strings.Contains(page, "127.0.0.1") || !strings.Contains(page, "Go-http-client") {
		t.Fatalf("two sessions:\n%s", page)
	}
	ids := regexp.MustCompile(`name="session" value="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(ids) != 1 {
		t.Fatalf("one session to end:\n%s", page)
	}
	// The browser's own session is not ended from the list, nor one
	// that is not alice's.
	status, _, page := a.post("/ui/account/sessions", "/ui/account/sessions/end", "session", a.sessionID(a.browser))
	if status != http.StatusConflict || !strings.Contains(page, "sign out to end it") {
		t.Fatalf("ending the current session: %d\n%s", status, page)
	}
	admin := a.another()
	a.signIn(admin, "admin", "admin-password-1")
	status, _, page = a.post("/ui/account/sessions", "/ui/account/sessions/end", "session", a.sessionID(admin))
	if status != http.StatusNotFound {
		t.Fatalf("ending another user's session: %d\n%s", status, page)
	}
	if _, path, _ := admin.get("/ui/account/"); path != "/ui/account/" {
		t.Fatalf("alice ended the admin's session: %s", path)
	}
	status, _, page = a.post("/ui/account/sessions", "/ui/account/sessions/end", "session", "no-such-session")
	if status != http.StatusNotFound {
		t.Fatalf("an unknown session: %d\n%s", status, page)
	}
	status, path, page := a.post("/ui/account/sessions", "/ui/account/sessions/end", "session", ids[0][1])
	if status != 200 || path != "/ui/account/sessions" || !strings.Contains(page, "The session is ended.") || strings.Contains(page, "Another session") {
		t.Fatalf("ending the other: %d %s\n%s", status, path, page)
	}
	if _, path, _ := other.get("/ui/account/"); path != "/ui/login/" {
		t.Fatalf("the ended session still works: %s", path)
	}
	if _, path, _ := a.get("/ui/account/"); path != "/ui/account/" {
		t.Fatalf("the current session ended too: %s", path)
	}
	// End all others: a third browser's session ends, this one stays.
	third := a.another()
	a.signIn(third, "alice", alicePassword)
	status, path, page = a.post("/ui/account/sessions", "/ui/account/sessions/end-others")
	if status != 200 || path != "/ui/account/sessions" || strings.Count(page, `class="session"`) != 1 {
		t.Fatalf("ending the others: %d %s\n%s", status, path, page)
	}
	if _, path, _ := third.get("/ui/account/"); path != "/ui/login/" {
		t.Fatalf("an other session still works: %s", path)
	}
}

// sessionID is the id of b's current session, from its cookie.
func (a *account) sessionID(b *browser) string {
	a.t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name != "castellan_sessions" {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(c.Value)
		var list []struct {
			ID string `json:"i"`
		}
		if err != nil || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
			a.t.Fatalf("the sessions cookie %q", c.Value)
		}
		return list[0].ID
	}
	a.t.Fatal("no sessions cookie")
	return ""
}

func TestAccountVerifiesTheEmailAddress(t *testing.T) {
	a := startAccount(t)
	status, _, page := a.post("/ui/account/contact", "/ui/account/contact/email/send")
	code := a.code("alice@example.com")
	if status != 200 || code == "" || !strings.Contains(page, "We sent a code.") {
		t.Fatalf("sending a code: %d %q\n%s", status, code, page)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	status, _, page = a.post("/ui/account/contact", "/ui/account/contact/email/verify", "code", wrong)
	if status != http.StatusUnauthorized || !strings.Contains(page, "The code is wrong.") {
		t.Fatalf("a wrong code: %d\n%s", status, page)
	}
	status, _, page = a.post("/ui/account/contact", "/ui/account/contact/email/verify", "code", code)
	if status != 200 || !strings.Contains(page, "alice@example.com · verified") {
		t.Fatalf("the code: %d\n%s", status, page)
	}
	u, err := user.Get(ctx, a.app.DB, a.first.InstanceID, a.userID, userschema.Self)
	if err != nil || !u.EmailVerified {
		t.Fatalf("not verified: %+v %v", u, err)
	}
	// Now sign-in codes by email can be turned on; then the session
	// lacks a second factor, which a recovery code gives.
	codes, err := a.app.UserCommands().GenerateRecoveryCodes(ctx, eventstore.SystemEditor, a.first.InstanceID, a.userID)
	if err != nil {
		t.Fatal(err)
	}
	status, path, page := a.post("/ui/account/authenticators", "/ui/account/sign-in-codes/email", "action", "add")
	if status != 200 || path != "/ui/account/second-factor" || !strings.Contains(page, "Code sent by email") {
		t.Fatalf("sign-in codes by email: %d %s\n%s", status, path, page)
	}
	if auth, _ := a.app.UserCommands().Authenticators(ctx, a.first.InstanceID, a.userID); !auth.SignInCodeEmail {
		t.Fatalf("not stored: %+v", auth)
	}
	status, _, page = a.post("/ui/account/second-factor?factor=recovery_code", "/ui/account/second-factor",
		"factor", "recovery_code", "code", "wrong-code", "next", "/ui/account/authenticators")
	if status != http.StatusUnauthorized || !strings.Contains(page, "The code is wrong.") {
		t.Fatalf("a wrong recovery code: %d\n%s", status, page)
	}
	status, path, page = a.post("/ui/account/second-factor?factor=recovery_code", "/ui/account/second-factor",
		"factor", "recovery_code", "code", codes[0], "next", "/ui/account/authenticators")
	if status != 200 || path != "/ui/account/authenticators" || !strings.Contains(page, "Codes sent by email sign you in.") {
		t.Fatalf("a recovery code: %d %s\n%s", status, path, page)
	}
	status, _, page = a.post("/ui/account/authenticators", "/ui/account/sign-in-codes/email", "action", "remove")
	if status != 200 || !strings.Contains(page, "Codes sent by email no longer sign you in.") {
		t.Fatalf("stopping sign-in codes by email: %d\n%s", status, page)
	}
}

func TestAccountProfile(t *testing.T) {
	a := startAccount(t)
	_, _, page := a.get("/ui/account/profile")
	if !strings.Contains(page, `name="trait/profile/given_name"`) || !strings.Contains(page, `value="Alice"`) {
		t.Fatalf("the profile form:\n%s", page)
	}
	const script = `<script>alert(1)</script>`
	status, path, page := a.post("/ui/account/profile", "/ui/account/profile",
		"trait/profile/given_name", script, "trait/profile/family_name", "Smith", "trait/profile/gender", "diverse")
	if status != 200 || path != "/ui/account/profile" || !strings.Contains(page, "Your profile is saved.") {
		t.Fatalf("saving: %d %s\n%s", status, path, page)
	}
	if strings.Contains(page, script) || !strings.Contains(page, `value="&lt;script&gt;alert(1)&lt;/script&gt;"`) || !strings.Contains(page, `value="Smith"`) {
		t.Fatalf("the saved profile, not escaped:\n%s", page)
	}
	u, err := user.Get(ctx, a.app.DB, a.first.InstanceID, a.userID, userschema.Self)
	if err != nil || !strings.Contains(string(u.Traits), `"family_name":"Smith"`) || !strings.Contains(string(u.Traits), `"gender":"diverse"`) ||
		!strings.Contains(string(u.Traits), `alert(1)`) {
		t.Fatalf("not stored: %s %v", u.Traits, err)
	}
	// A value the schema refuses is named next to its field, and nothing
	// is saved.
	status, _, page = a.post("/ui/account/profile", "/ui/account/profile",
		"trait/profile/given_name", "Alice", "trait/profile/avatar_url", "javascript:alert(1)")
	if status != http.StatusBadRequest || !strings.Contains(page, "Check the marked fields.") ||
		!regexp.MustCompile(`name="trait/profile/avatar_url" type="url" value="javascript:alert\(1\)"[^>]*aria-invalid="true"`).MatchString(page) ||
		!regexp.MustCompile(`<p class="field-error" id="trait-\d+-error">`).MatchString(page) {
		t.Fatalf("a refused value: %d\n%s", status, page)
	}
	if again, _ := user.Get(ctx, a.app.DB, a.first.InstanceID, a.userID, userschema.Self); string(again.Traits) != string(u.Traits) {
		t.Fatalf("a refused form changed the traits: %s → %s", u.Traits, again.Traits)
	}
	// Emptied, an optional field is removed.
	a.post("/ui/account/profile", "/ui/account/profile", "trait/profile/given_name", "Alice", "trait/profile/family_name", "")
	if again, _ := user.Get(ctx, a.app.DB, a.first.InstanceID, a.userID, userschema.Self); strings.Contains(string(again.Traits), "family_name") {
		t.Fatalf("an emptied field stayed: %s", again.Traits)
	}
}

// The profile writes what the user's schema lets the user write, and no
// field only an administrator writes.
func TestAccountProfileWritesOnlyTheUsersFields(t *testing.T) {
	a := startAccount(t)
	const staff = `{"type": "object", "permission": {"self": "r", "admin": "rw"}, "authenticators": ["password"],
		"properties": {
			"nickname": {"type": "string", "title": "Nickname", "permission": {"self": "rw", "admin": "rw"}},
			"cost_center": {"type": "string", "title": "Cost center"}
		}}`
	if _, err := usertype.NewCommands(a.app.Store).Create(ctx, eventstore.SystemEditor, a.first.InstanceID, "staff", []byte(staff)); err != nil {
		t.Fatal(err)
	}
	id, err := a.app.UserCommands().Create(ctx, eventstore.SystemEditor, a.first.InstanceID, user.New{OrgID: a.first.OrgID, Type: "staff",
		LoginName: "bob", Password: alicePassword, Traits: []byte(`{"cost_center":"CC-1","nickname":"bob"}`)})
	if err != nil {
		t.Fatal(err)
	}
	b := a.another()
	a.signIn(b, "bob", alicePassword)
	_, _, page := b.get("/ui/account/profile")
	if !strings.Contains(page, `name="trait/nickname"`) || strings.Contains(page, "trait/cost_center") {
		t.Fatalf("bob's form:\n%s", page)
	}
	if status, _, page := b.post("/ui/account/profile", "/ui/account/profile", "trait/nickname", "bobby", "trait/cost_center", "CC-9"); status != 200 {
		t.Fatalf("saving: %d\n%s", status, page)
	}
	u, err := user.Get(ctx, a.app.DB, a.first.InstanceID, id, userschema.Admin)
	if err != nil || !strings.Contains(string(u.Traits), `"nickname":"bobby"`) || !strings.Contains(string(u.Traits), `"cost_center":"CC-1"`) {
		t.Fatalf("bob's traits: %s %v", u.Traits, err)
	}
}
