package login_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

var ctx = context.Background()

type browser struct {
	t      *testing.T
	base   string
	client *http.Client
	app    *app.App
	first  setup.Result
}

// start runs a Castellan with the login for a test, with flags added.
func start(t *testing.T, flags ...string) *browser {
	cfg, err := config.Load(append([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost",
		"--passwords-argon2id-memory-kib", "8192", "--passwords-argon2id-iterations", "1"}, flags...), func(string) (string, bool) { return "", false })
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
	srv, err := a.Server("test", false)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://localhost:" + u.Port(), app: a, first: first, client: &http.Client{Jar: jar}}
}

// get returns the status, final URL and body of a page.
func (b *browser) get(path string, header ...string) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) (int, string, string) {
	b.t.Helper()
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Request.URL.Path, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form of the page at from, with the page's CSRF token.
func (b *browser) post(from, action string, fields ...string) (int, string, string) {
	b.t.Helper()
	_, _, page := b.get(from)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s:\n%s", from, page)
	}
	form := url.Values{"csrf": {m[1]}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func TestPasswordSignIn(t *testing.T) {
	b := start(t)
	status, _, page := b.get("/ui/login/")
	if status != 200 || !strings.Contains(page, `name="loginName"`) {
		t.Fatalf("sign-in page: %d\n%s", status, page)
	}
	status, path, page := b.post("/ui/login/", "/ui/login/", "loginName", "admin")
	if status != 200 || path != "/ui/login/password" || !strings.Contains(page, "admin") {
		t.Fatalf("after the name: %d %s\n%s", status, path, page)
	}
	status, _, page = b.post("/ui/login/password", "/ui/login/password", "password", "wrong password")
	if status != 401 || !strings.Contains(page, "The login name or password is wrong.") {
		t.Fatalf("a wrong password: %d\n%s", status, page)
	}
	status, path, page = b.post("/ui/login/password", "/ui/login/password", "password", "admin-password-1")
	if status != 200 || path != "/ui/login/done" || !strings.Contains(page, "You are signed in as admin.") {
		t.Fatalf("signed in: %d %s\n%s", status, path, page)
	}
	// The browser's session is offered for selection.
	if _, _, page = b.get("/ui/login/"); !strings.Contains(page, "Choose an account") || !strings.Contains(page, ">admin<") {
		t.Fatalf("account selection:\n%s", page)
	}
	status, _, page = b.post("/ui/login/done", "/ui/login/logout")
	if status != 200 || !strings.Contains(page, "You are signed out.") {
		t.Fatalf("sign out: %d\n%s", status, page)
	}
	if status, _, _ = b.get("/ui/login/done"); status != 200 {
		t.Fatal(status)
	}
	if _, _, page = b.get("/ui/login/"); strings.Contains(page, "Choose an account") {
		t.Fatalf("a session survived sign-out:\n%s", page)
	}
}

// An unknown name goes on to the password step like a known one, and
// fails there with the same answer.
func TestUnknownNamesLookAlike(t *testing.T) {
	b := start(t)
	_, path, page := b.post("/ui/login/", "/ui/login/", "loginName", "nobody")
	if path != "/ui/login/password" || !strings.Contains(page, "nobody") {
		t.Fatalf("an unknown name: %s\n%s", path, page)
	}
	status, _, unknown := b.post("/ui/login/password", "/ui/login/password", "password", "some password")
	b.post("/ui/login/", "/ui/login/", "loginName", "admin")
	status2, _, known := b.post("/ui/login/password", "/ui/login/password", "password", "some password")
	strip := func(s string) string {
		return regexp.MustCompile(`nonce="[^"]+"|value="[^"]+"|nobody|admin`).ReplaceAllString(s, "")
	}
	if status != status2 || strip(unknown) != strip(known) {
		t.Fatalf("unknown: %d\n%s\nknown: %d\n%s", status, unknown, status2, known)
	}
}

func TestFormsNeedTheirToken(t *testing.T) {
	b := start(t)
	b.get("/ui/login/")
	req, _ := http.NewRequest(http.MethodPost, b.base+"/ui/login/", strings.NewReader("loginName=admin&csrf=forged-token-forged-token-forged-token-forg"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, _, page := b.do(req); status != http.StatusForbidden || !strings.Contains(page, "The form has expired") {
		t.Fatalf("a forged token: %d\n%s", status, page)
	}
	res, err := b.client.Get(b.base + "/ui/login/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
}

func TestGerman(t *testing.T) {
	b := start(t)
	if _, _, page := b.get("/ui/login/?ui_locales=de"); !strings.Contains(page, "Anmeldename") || !strings.Contains(page, `lang="de"`) {
		t.Fatalf("ui_locales=de:\n%s", page)
	}
	if _, _, page := b.get("/ui/login/", "Accept-Language", "de-CH, en;q=0.5"); !strings.Contains(page, "Anmeldename") {
		t.Fatalf("Accept-Language de-CH:\n%s", page)
	}
	if _, _, page := b.get("/ui/login/", "Accept-Language", "fr"); !strings.Contains(page, "Login name") {
		t.Fatalf("Accept-Language fr:\n%s", page)
	}
}

// MFA required and none registered: the login sets up TOTP, then asks for
// its next code.
func TestSecondFactorSetupAndSignIn(t *testing.T) {
	b := start(t)
	login := settings.BuiltIn().Login
	login.MFARequired = settings.MFAEveryone
	if err := settings.NewCommands(b.app.Store).Set(ctx, eventstore.SystemEditor, b.first.InstanceID, "", login); err != nil {
		t.Fatal(err)
	}
	if _, err := user.NewCommands(b.app.Store, b.app.Hasher).Create(ctx, eventstore.SystemEditor, b.first.InstanceID,
		user.New{OrgID: b.first.OrgID, Type: "human", LoginName: "alice", Password: "a good password 1"}); err != nil {
		t.Fatal(err)
	}
	b.post("/ui/login/", "/ui/login/", "loginName", "alice")
	_, path, page := b.post("/ui/login/password", "/ui/login/password", "password", "a good password 1")
	if path != "/ui/login/setup" {
		t.Fatalf("after the password: %s\n%s", path, page)
	}
	secret := regexp.MustCompile(`<code>([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if secret == nil || !strings.Contains(page, `src="data:image/png;base64,`) {
		t.Fatalf("setup page:\n%s", page)
	}
	first, _ := totp.GenerateCode(secret[1], time.Now().Add(-30*time.Second))
	m := csrfField.FindStringSubmatch(page)
	form := url.Values{"csrf": {m[1]}, "code": {first}}
	req, _ := http.NewRequest(http.MethodPost, b.base+"/ui/login/setup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, _, page := b.do(req)
	if status != 200 || !strings.Contains(page, "Your authenticator is set up") {
		t.Fatalf("setup: %d\n%s", status, page)
	}
	now, _ := totp.GenerateCode(secret[1], time.Now())
	if now == first {
		t.Skip("the previous and the current step have the same code")
	}
	status, path, page = b.post("/ui/login/code/totp", "/ui/login/code/totp", "code", now)
	if status != 200 || path != "/ui/login/done" {
		t.Fatalf("with the code: %d %s\n%s", status, path, page)
	}
}

// The sign-in pages lead to registration (when open), recovery and the
// account.
func TestSignInPagesLinkOn(t *testing.T) {
	b := start(t)
	if _, _, page := b.get("/ui/login/"); strings.Contains(page, "/ui/login/register") {
		t.Fatalf("registration offered while closed:\n%s", page)
	}
	login := settings.BuiltIn().Login
	login.SelfRegistration = true
	if err := settings.NewCommands(b.app.Store).Set(ctx, eventstore.SystemEditor, b.first.InstanceID, "", login); err != nil {
		t.Fatal(err)
	}
	if _, _, page := b.get("/ui/login/"); !strings.Contains(page, `href="/ui/login/register"`) {
		t.Fatalf("registration not offered while open:\n%s", page)
	}
	if _, _, page := b.post("/ui/login/", "/ui/login/", "loginName", "admin"); !strings.Contains(page, `href="/ui/login/recover"`) {
		t.Fatalf("no recovery link:\n%s", page)
	}
	if _, _, page := b.post("/ui/login/password", "/ui/login/password", "password", "admin-password-1"); !strings.Contains(page, `href="/ui/account/"`) {
		t.Fatalf("no account link:\n%s", page)
	}
}

// One client address posts at most server.login_posts_per_client forms a
// minute; the next is refused before it reaches a session.
func TestPostsPerClientAreLimited(t *testing.T) {
	b := start(t, "--server-login-posts-per-client", "3")
	for i := range 3 {
		if status, _, page := b.post("/ui/login/", "/ui/login/", "loginName", "admin"); status != http.StatusOK || strings.Contains(page, "Too many attempts") {
			t.Fatalf("post %d: %d\n%s", i+1, status, page)
		}
	}
	status, _, page := b.post("/ui/login/", "/ui/login/", "loginName", "admin")
	if status != http.StatusTooManyRequests || !strings.Contains(page, "Too many attempts. Wait a moment and try again.") {
		t.Fatalf("the fourth post: %d\n%s", status, page)
	}
}
