package login_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/credential/passkey/passkeytest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// origin is what the browser's client data must name: the instance's base
// URL, from the external URL http://localhost (passkey.FromInstance).
const origin = "http://localhost"

// addUser creates a human user with a password and returns it.
func (b *browser) addUser(name string) user.User {
	b.t.Helper()
	id, err := user.NewCommands(b.app.Store, b.app.Hasher).Create(ctx, eventstore.SystemEditor, b.first.InstanceID,
		user.New{OrgID: b.first.OrgID, Type: "human", LoginName: name, Password: "a good password 1"})
	if err != nil {
		b.t.Fatal(err)
	}
	u, err := user.Get(ctx, b.app.DB, b.first.InstanceID, id, userschema.Admin)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// addPasskey registers a credential of a with u, through the passkey
// commands (as the user API would).
func (b *browser) addPasskey(u user.User, a *passkeytest.Authenticator, passwordless bool) *passkeytest.Key {
	b.t.Helper()
	cmds := b.app.Passkeys()
	ceremony, opts, err := cmds.BeginRegistration(ctx, u.Aggregate(), passkey.UserInfo{ID: u.ID, LoginName: u.LoginName}, passwordless)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, key, err := a.Create(opts)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := cmds.FinishRegistration(ctx, eventstore.Editor{UserID: u.ID}, u.Aggregate(), ceremony, "", resp); err != nil {
		b.t.Fatal(err)
	}
	return key
}

// another is a second browser on the same server, with cookies of its own.
func (b *browser) another() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: b.t, base: b.base, app: b.app, first: b.first, client: &http.Client{Jar: jar}}
}

// answer is what the passkey endpoints answer the script.
type answer struct {
	status   int
	Options  json.RawMessage `json:"options"`
	Ceremony string          `json:"ceremony"`
	Next     string          `json:"next"`
	Error    string          `json:"error"`
}

// token is the CSRF token of a page.
func (b *browser) token(page string) string {
	b.t.Helper()
	_, _, body := b.get(page)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s:\n%s", page, body)
	}
	return m[1]
}

// script posts to a passkey endpoint as passkey.js does: a form with the
// page's CSRF token (csrf, unless given) and fields.
func (b *browser) script(endpoint string, form url.Values) answer {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		b.t.Fatalf("%s answered %d %s:\n%s", endpoint, res.StatusCode, ct, body)
	}
	if err := json.Unmarshal(body, &a); err != nil {
		b.t.Fatalf("%s answered %d: %v\n%s", endpoint, res.StatusCode, err, body)
	}
	return a
}

// begin asks for a ceremony from the page at page, as its button does.
func (b *browser) begin(page, endpoint string) answer {
	b.t.Helper()
	a := b.script(endpoint, url.Values{"csrf": {b.token(page)}})
	if a.status != http.StatusOK || len(a.Options) == 0 {
		b.t.Fatalf("begin %s: %+v", endpoint, a)
	}
	return a
}

// finish posts a credential with the token of page.
func (b *browser) finish(page, endpoint string, credential []byte, extra ...string) answer {
	b.t.Helper()
	form := url.Values{"csrf": {b.token(page)}, "credential": {string(credential)}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return b.script(endpoint, form)
}

// signedInAs reports whether the browser's sign-in ended signed in as name.
// (The done page forgets a sign-in in progress: ask it only at the end.)
func (b *browser) signedInAs(name string) bool {
	b.t.Helper()
	_, _, page := b.get("/ui/login/done")
	return strings.Contains(page, "You are signed in as "+name+".")
}

// authenticated reports whether the browser's first session is
// authenticated, leaving the sign-in in progress alone.
func (b *browser) authenticated() bool {
	b.t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name != "castellan_sessions" {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(c.Value)
		var list []struct {
			ID    string `json:"i"`
			Token string `json:"t"`
		}
		if err != nil || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
			b.t.Fatalf("sessions cookie %q", c.Value)
		}
		s, err := b.app.Sessions().Get(ctx, b.first.InstanceID, list[0].ID, list[0].Token)
		return err == nil && s.Status.Authenticated
	}
	return false
}

var scriptTag = regexp.MustCompile(`<script src="(/ui/login/static/[0-9a-f]{16}/passkey\.js)" nonce="([^"]+)"></script>`)

func TestPasskeySignIn(t *testing.T) {
	b := start(t)
	alice := b.addUser("alice")
	a := &passkeytest.Authenticator{Origin: origin, UV: true}
	b.addPasskey(alice, a, true)

	if _, _, page := b.get("/ui/login/"); !strings.Contains(page, `href="/ui/login/passkey"`) {
		t.Fatalf("the name page offers no passkey:\n%s", page)
	}
	res, err := b.client.Get(b.base + "/ui/login/passkey")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(body)
	m := scriptTag.FindStringSubmatch(page)
	if res.StatusCode != 200 || m == nil || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'nonce-"+html.UnescapeString(m[2])+"'") {
		t.Fatalf("passkey page %d, CSP %q:\n%s", res.StatusCode, res.Header.Get("Content-Security-Policy"), page)
	}
	if strings.Contains(page, " onclick=") || strings.Count(page, "<script") != 1 {
		t.Fatalf("the page has inline script:\n%s", page)
	}
	res, err = b.client.Get(b.base + m[1])
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(res.Header.Get("Cache-Control"), "max-age=31536000") || !strings.Contains(string(js), "navigator.credentials.get") {
		t.Fatalf("script: %d %v", res.StatusCode, res.Header)
	}
	if status, _, _ := b.get(strings.Replace(m[1], "/static/", "/static/0", 1)); status != http.StatusNotFound {
		t.Fatalf("a script under another hash: %d", status)
	}

	begun := b.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	var opts struct {
		PublicKey struct {
			Challenge        string            `json:"challenge"`
			AllowCredentials []json.RawMessage `json:"allowCredentials"`
			UserVerification string            `json:"userVerification"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(begun.Options, &opts); err != nil || opts.PublicKey.Challenge == "" ||
		len(opts.PublicKey.AllowCredentials) != 0 || opts.PublicKey.UserVerification != "required" {
		t.Fatalf("options of a sign-in without a user: %v %s", err, begun.Options)
	}
	if b.authenticated() {
		t.Fatal("signed in before the assertion")
	}
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := b.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion)
	if done.status != http.StatusOK || done.Next != "/ui/login/done" {
		t.Fatalf("finish: %+v", done)
	}
	if !b.signedInAs("alice") {
		t.Fatal("not signed in after the assertion")
	}
}

// A key that does not verify its user (no PIN, no biometric) cannot sign
// in alone: the session refuses it, with the one message.
func TestPasskeyWithoutUserVerificationCannotSignInAlone(t *testing.T) {
	b := start(t)
	alice := b.addUser("alice")
	a := &passkeytest.Authenticator{Origin: origin, UV: true}
	b.addPasskey(alice, a, true)
	a.UV = false
	begun := b.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := b.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion)
	if done.status != http.StatusUnauthorized || done.Error != "The passkey could not be used. Try again or choose another way." || done.Next != "" {
		t.Fatalf("finish: %+v", done)
	}
	if b.authenticated() || b.signedInAs("alice") {
		t.Fatal("signed in without user verification")
	}
}

func TestPasskeySecondFactor(t *testing.T) {
	b := start(t)
	alice := b.addUser("alice")
	a := &passkeytest.Authenticator{Origin: origin}
	key := b.addPasskey(alice, a, false)

	b.post("/ui/login/", "/ui/login/", "loginName", "alice")
	_, path, page := b.post("/ui/login/password", "/ui/login/password", "password", "a good password 1")
	if path != "/ui/login/passkey" || !strings.Contains(page, "Confirm that it is you with your security key or passkey.") {
		t.Fatalf("after the password: %s\n%s", path, page)
	}
	if b.authenticated() {
		t.Fatal("signed in with the password alone")
	}
	begun := b.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	if !strings.Contains(string(begun.Options), `"allowCredentials":[{"type":"public-key","id":"`+key.IDString()+`"`) {
		t.Fatalf("the options do not allow the user's key: %s", begun.Options)
	}
	// Another's key is refused.
	other := &passkeytest.Authenticator{Origin: origin}
	b.addPasskey(b.addUser("bob"), other, false)
	forged, err := other.Get(begun.Options, other.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if done := b.finish("/ui/login/passkey", "/ui/login/passkey/finish", forged); done.status != http.StatusUnauthorized {
		t.Fatalf("another user's key: %+v", done)
	}
	begun = b.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := b.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion)
	if done.status != http.StatusOK || done.Next != "/ui/login/done" {
		t.Fatalf("finish: %+v", done)
	}
	if !b.signedInAs("alice") {
		t.Fatal("not signed in after the second factor")
	}
}

// A user with an authenticator app and a passkey is asked for the app's
// code first, and offered the passkey instead; the passkey page offers
// the code back.
func TestCodePageOffersPasskey(t *testing.T) {
	b := start(t)
	alice := b.addUser("alice")
	cmds := user.NewCommands(b.app.Store, b.app.Hasher)
	reg, err := cmds.AddTOTP(ctx, eventstore.SystemEditor, b.first.InstanceID, alice.ID, "Test", b.app.Keys)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(reg.Secret, time.Now())
	if err := cmds.VerifyTOTP(ctx, eventstore.SystemEditor, b.first.InstanceID, alice.ID, code, b.app.Keys); err != nil {
		t.Fatal(err)
	}
	a := &passkeytest.Authenticator{Origin: origin}
	b.addPasskey(alice, a, false)

	b.post("/ui/login/", "/ui/login/", "loginName", "alice")
	_, path, page := b.post("/ui/login/password", "/ui/login/password", "password", "a good password 1")
	if path != "/ui/login/code/totp" || !strings.Contains(page, `<a href="/ui/login/passkey">Security key or passkey</a>`) {
		t.Fatalf("after the password: %s\n%s", path, page)
	}
	if _, _, page = b.get("/ui/login/passkey"); !strings.Contains(page, `<a href="/ui/login/code/totp">Authenticator app code</a>`) {
		t.Fatalf("passkey page:\n%s", page)
	}
	begun := b.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done := b.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion); done.Next != "/ui/login/done" || !b.signedInAs("alice") {
		t.Fatalf("finish: %+v", done)
	}
}

func TestPasskeyPostsNeedTheirToken(t *testing.T) {
	b := start(t)
	alice := b.addUser("alice")
	a := &passkeytest.Authenticator{Origin: origin, UV: true}
	b.addPasskey(alice, a, true)

	b.get("/ui/login/passkey")
	if got := b.script("/ui/login/passkey/begin", url.Values{}); got.status != http.StatusForbidden || got.Options != nil {
		t.Fatalf("begin without a token: %+v", got)
	}
	begun := b.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, form := range map[string]url.Values{
		"no token":     {"credential": {string(assertion)}},
		"forged token": {"credential": {string(assertion)}, "csrf": {strings.Repeat("A", 43)}},
	} {
		if got := b.script("/ui/login/passkey/finish", form); got.status != http.StatusForbidden || got.Error != "The form has expired. Please try again." || got.Next != "" {
			t.Fatalf("finish with %s: %+v", name, got)
		}
	}
	// A token of another browser is no token of this one.
	if got := b.script("/ui/login/passkey/finish", url.Values{"credential": {string(assertion)}, "csrf": {b.another().token("/ui/login/passkey")}}); got.status != http.StatusForbidden {
		t.Fatalf("finish with another browser's token: %+v", got)
	}
	if b.authenticated() {
		t.Fatal("signed in without a token")
	}
	// The refusals came before the check: the ceremony is still there.
	if done := b.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion); done.status != http.StatusOK || !b.signedInAs("alice") {
		t.Fatalf("finish with the token: %+v", done)
	}
}

func TestPasskeyAssertionReplayed(t *testing.T) {
	b := start(t)
	alice := b.addUser("alice")
	a := &passkeytest.Authenticator{Origin: origin, UV: true}
	b.addPasskey(alice, a, true)
	begun := b.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done := b.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion); done.status != http.StatusOK || !b.signedInAs("alice") {
		t.Fatalf("finish: %+v", done)
	}

	// The same answer to the spent ceremony, in the same session.
	if again := b.finish("/ui/login/done", "/ui/login/passkey/finish", assertion); again.status == http.StatusOK || again.Next != "" {
		t.Fatalf("the assertion again: %+v", again)
	}
	// The same answer to a new challenge, in another browser.
	eve := b.another()
	eve.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	if replayed := eve.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion); replayed.status != http.StatusUnauthorized ||
		replayed.Error != "The passkey could not be used. Try again or choose another way." {
		t.Fatalf("a replayed assertion: %+v", replayed)
	}
	if eve.signedInAs("alice") {
		t.Fatal("a replayed assertion signed in")
	}
}

// MFA required and none registered: the user registers a security key
// during the sign-in, then confirms with it.
func TestPasskeySetupDuringSignIn(t *testing.T) {
	b := start(t)
	login := settings.BuiltIn().Login
	login.MFARequired = settings.MFAEveryone
	if err := settings.NewCommands(b.app.Store).Set(ctx, eventstore.SystemEditor, b.first.InstanceID, "", login); err != nil {
		t.Fatal(err)
	}
	alice := b.addUser("alice")
	b.post("/ui/login/", "/ui/login/", "loginName", "alice")
	_, path, page := b.post("/ui/login/password", "/ui/login/password", "password", "a good password 1")
	if path != "/ui/login/setup" || !strings.Contains(page, `href="/ui/login/passkey/setup"`) {
		t.Fatalf("after the password: %s\n%s", path, page)
	}
	if _, _, page = b.get("/ui/login/passkey/setup"); !strings.Contains(page, "data-register") {
		t.Fatalf("setup page:\n%s", page)
	}
	begun := b.begin("/ui/login/passkey/setup", "/ui/login/passkey/setup/begin")
	if begun.Ceremony == "" {
		t.Fatalf("begin: %+v", begun)
	}
	a := &passkeytest.Authenticator{Origin: origin}
	created, _, err := a.Create(begun.Options)
	if err != nil {
		t.Fatal(err)
	}
	// Without the ceremony it began, a registration is refused.
	if got := b.finish("/ui/login/passkey/setup", "/ui/login/passkey/setup/finish", created, "ceremony", "AAAAAAAAAAAAAAAAAAAAAAAAAA"); got.status != http.StatusBadRequest {
		t.Fatalf("another ceremony: %+v", got)
	}
	begun = b.begin("/ui/login/passkey/setup", "/ui/login/passkey/setup/begin")
	a = &passkeytest.Authenticator{Origin: origin}
	created, _, err = a.Create(begun.Options)
	if err != nil {
		t.Fatal(err)
	}
	done := b.finish("/ui/login/passkey/setup", "/ui/login/passkey/setup/finish", created, "ceremony", begun.Ceremony)
	if done.status != http.StatusOK || done.Next != "/ui/login/passkey?registered" {
		t.Fatalf("finish registration: %+v", done)
	}
	if list, err := b.app.Passkeys().List(ctx, alice.Aggregate()); err != nil || len(list) != 1 || list[0].Passwordless {
		t.Fatalf("the user's passkeys: %+v %v", list, err)
	}
	if b.authenticated() {
		t.Fatal("signed in by registering")
	}
	if _, _, page = b.get(done.Next); !strings.Contains(page, "Use it once more to finish signing in.") {
		t.Fatalf("after the registration:\n%s", page)
	}
	begun = b.begin(done.Next, "/ui/login/passkey/begin")
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done = b.finish(done.Next, "/ui/login/passkey/finish", assertion); done.Next != "/ui/login/done" || !b.signedInAs("alice") {
		t.Fatalf("finish: %+v", done)
	}
	// A signed-in user has nothing to register here.
	if got := b.script("/ui/login/passkey/setup/begin", url.Values{"csrf": {b.token("/ui/login/done")}}); got.status != http.StatusForbidden {
		t.Fatalf("registration after the sign-in: %+v", got)
	}
}

// A signed-in user adds a passkey from its account, then signs in with it
// alone.
func TestAccountAddsPasskey(t *testing.T) {
	b := start(t)
	alice := b.addUser("alice")
	if got := b.script("/ui/account/passkeys/add/begin", url.Values{"csrf": {b.token("/ui/login/")}}); got.status != http.StatusUnauthorized || got.Options != nil {
		t.Fatalf("begin without a sign-in: %+v", got)
	}
	b.post("/ui/login/", "/ui/login/", "loginName", "alice")
	if _, path, _ := b.post("/ui/login/password", "/ui/login/password", "password", "a good password 1"); path != "/ui/login/done" {
		t.Fatalf("after the password: %s", path)
	}
	if _, _, page := b.get("/ui/account/authenticators"); !strings.Contains(page, `href="/ui/account/passkeys/add"`) {
		t.Fatalf("the authenticators page offers no passkey:\n%s", page)
	}
	if _, path, page := b.get("/ui/account/passkeys/add"); path != "/ui/account/passkeys/add" || !strings.Contains(page, "data-register") || !scriptTag.MatchString(page) {
		t.Fatalf("add page: %s\n%s", path, page)
	}
	begun := b.begin("/ui/account/passkeys/add", "/ui/account/passkeys/add/begin")
	a := &passkeytest.Authenticator{Origin: origin, UV: true}
	created, key, err := a.Create(begun.Options)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Resident {
		t.Fatalf("a passkey of the account is not discoverable: %s", begun.Options)
	}
	done := b.finish("/ui/account/passkeys/add", "/ui/account/passkeys/add/finish", created, "ceremony", begun.Ceremony)
	if done.status != http.StatusOK || done.Next != "/ui/account/authenticators?done=passkey-added" {
		t.Fatalf("finish: %+v", done)
	}
	if list, err := b.app.Passkeys().List(ctx, alice.Aggregate()); err != nil || len(list) != 1 || !list[0].Passwordless {
		t.Fatalf("the user's passkeys: %+v %v", list, err)
	}

	phone := b.another()
	begun = phone.begin("/ui/login/passkey", "/ui/login/passkey/begin")
	assertion, err := a.Get(begun.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done := phone.finish("/ui/login/passkey", "/ui/login/passkey/finish", assertion); done.Next != "/ui/login/done" || !phone.signedInAs("alice") {
		t.Fatalf("sign-in with the new passkey: %+v", done)
	}
}
