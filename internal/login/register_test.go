package login_test

import (
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/notify/notifytest"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// mailbox is a real SMTP server on loopback (notifytest.Mailbox) with the
// look-ups these tests need.
type mailbox struct{ *notifytest.Mailbox }

func startMailbox(t *testing.T) *mailbox { return &mailbox{notifytest.Start(t)} }

// to returns the messages sent to address, decoded (bodies are
// quoted-printable).
func (m *mailbox) to(address string) []string {
	var out []string
	for _, raw := range m.Messages() {
		decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(raw)))
		if err != nil {
			decoded = []byte(raw)
		}
		s := string(decoded)
		if strings.Contains(s, "To: <"+address+">") || strings.Contains(s, "To: "+address+"\r") {
			out = append(out, s)
		}
	}
	return out
}

// wait returns the n-th message to address (from 1), waiting for it: the
// login sends after it answers.
func (m *mailbox) wait(t *testing.T, address string, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got := m.to(address); len(got) >= n {
			return got[n-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no message %d to %s", n, address)
	return ""
}

var codeInMail = regexp.MustCompile(`code is ([0-9]{6})`)

func (m *mailbox) code(t *testing.T, address string, n int) string {
	t.Helper()
	mail := m.wait(t, address, n)
	c := codeInMail.FindStringSubmatch(mail)
	if c == nil {
		t.Fatalf("no code in:\n%s", mail)
	}
	return c[1]
}

// startWithMail is start with email through a mailbox.
func startWithMail(t *testing.T) (*browser, *mailbox) {
	box := startMailbox(t)
	cfg, err := config.Load([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:1", "--external-url", "http://localhost",
		"--passwords-argon2id-memory-kib", "8192", "--passwords-argon2id-iterations", "1",
		"--notify-smtp-host", "127.0.0.1", "--notify-smtp-port", strconv.Itoa(box.Port), "--notify-smtp-tls", "none",
		"--notify-smtp-from", "Castellan <noreply@castellan.test>"}, func(string) (string, bool) { return "", false })
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
	return &browser{t: t, base: "http://localhost:" + u.Port(), app: a, first: first, client: &http.Client{Jar: jar}}, box
}

// allow sets the login settings of the instance (orgID "") or of an
// organization.
func (b *browser) allow(orgID string, change func(*settings.Login)) {
	b.t.Helper()
	login := settings.BuiltIn().Login
	change(&login)
	if err := settings.NewCommands(b.app.Store).Set(ctx, eventstore.SystemEditor, b.first.InstanceID, orgID, login); err != nil {
		b.t.Fatal(err)
	}
}

// addressSchema is a human type whose users write their name, a size
// from a list, a newsletter choice and an address whose city is required.
const addressSchema = `{
  "type": "object",
  "permission": {"self": "rw", "admin": "rw"},
  "authenticators": ["password", "passkey", "totp", "otp_email"],
  "additionalProperties": false,
  "required": ["address"],
  "properties": {
    "name": {"type": "string", "title": "Full name", "maxLength": 100},
    "address": {
      "type": "object", "title": "Address", "additionalProperties": false,
      "required": ["city"],
      "properties": {
        "street": {"type": "string", "title": "Street"},
        "city": {"type": "string", "title": "City", "description": "The city you live in", "minLength": 2}
      }
    },
    "size": {"type": "string", "title": "Shirt size", "enum": ["s", "m", "l"]},
    "news": {"type": "boolean", "title": "Send me news"},
    "internal": {"type": "string", "permission": {"self": "r", "admin": "rw"}}
  }
}`

func (b *browser) useAddressSchema() {
	b.t.Helper()
	human, err := usertype.ByName(ctx, b.app.DB, b.first.InstanceID, "human")
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := usertype.NewCommands(b.app.Store).Update(ctx, eventstore.SystemEditor, b.first.InstanceID, human.ID, []byte(addressSchema)); err != nil {
		b.t.Fatal(err)
	}
}

// input returns the whole <input> or <select> tag named name on page.
func input(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<(?:input|select)[^>]* name="` + regexp.QuoteMeta(name) + `"[^>]*>`).FindString(page)
	if m == "" {
		t.Fatalf("no input %s on:\n%s", name, page)
	}
	return m
}

func attr(tag, name string) string {
	m := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return m[1]
}

// The registration form is generated from the user type: an input per
// self-writable field, labelled by its title, typed by its type, format
// and enum, required as the schema says; a violation shows next to its
// field. Then the email address is verified with the code sent to it, and
// the user is signed in.
func TestRegistrationWithAGeneratedForm(t *testing.T) {
	b, box := startWithMail(t)
	b.useAddressSchema()
	b.allow("", func(l *settings.Login) { l.SelfRegistration = true })

	status, _, page := b.get("/ui/login/register")
	if status != 200 {
		t.Fatalf("registration page: %d\n%s", status, page)
	}
	city := input(t, page, "trait/address/city")
	if !strings.Contains(city, " required") || attr(city, "type") != "text" {
		t.Errorf("city: %s", city)
	}
	if !strings.Contains(page, `<label for="`+attr(city, "id")+`">City</label>`) || !strings.Contains(page, "The city you live in") {
		t.Errorf("city's label and hint:\n%s", page)
	}
	if street := input(t, page, "trait/address/street"); strings.Contains(street, " required") {
		t.Errorf("street is optional: %s", street)
	}
	if size := input(t, page, "trait/size"); !strings.HasPrefix(size, "<select") || !strings.Contains(page, "<option>m</option>") {
		t.Errorf("size is a select: %s", size)
	}
	if news := input(t, page, "trait/news"); attr(news, "type") != "checkbox" {
		t.Errorf("news: %s", news)
	}
	if strings.Contains(page, "trait/internal") {
		t.Error("a field the user may only read is in the form")
	}

	// Without the city: the schema's violation next to the city.
	form := []string{"email", "ada@example.com", "password", "a good password 1", "repeat", "a good password 1", "trait/name", "Ada", "trait/size", "m", "trait/news", "true"}
	status, _, page = b.post("/ui/login/register", "/ui/login/register", form...)
	if status != 400 {
		t.Fatalf("without the city: %d\n%s", status, page)
	}
	city = input(t, page, "trait/address/city")
	errID := attr(city, "id") + "-error"
	if !strings.Contains(attr(city, "aria-describedby"), errID) || attr(city, "aria-invalid") != "true" ||
		!regexp.MustCompile(`<p class="field-error" id="`+errID+`">This field is required.</p>`).MatchString(page) {
		t.Fatalf("the violation is not next to the city:\n%s", page)
	}
	if !strings.Contains(input(t, page, "trait/name"), `value="Ada"`) {
		t.Error("the values entered are lost")
	}
	// A city too short: the validator's own words.
	_, _, page = b.post("/ui/login/register", "/ui/login/register", append(form, "trait/address/city", "B")...)
	if !strings.Contains(page, "This field must be at least 2 characters long.") {
		t.Fatalf("minLength:\n%s", page)
	}

	status, path, page := b.post("/ui/login/register", "/ui/login/register", append(form, "trait/address/city", "Bern")...)
	if status != 200 || path != "/ui/login/register" || !strings.Contains(page, "We sent a message to ada@example.com") {
		t.Fatalf("registered: %d %s\n%s", status, path, page)
	}
	code := box.code(t, "ada@example.com", 1)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if status, _, page = b.post("/ui/login/register/verify", "/ui/login/register/verify", "code", wrong); status != 400 || !strings.Contains(page, "The code is wrong.") {
		t.Fatalf("a wrong code: %d\n%s", status, page)
	}
	status, path, page = b.post("/ui/login/register/verify", "/ui/login/register/verify", "code", code)
	if status != 200 || path != "/ui/login/done" || !strings.Contains(page, "You are signed in as ada@example.com.") {
		t.Fatalf("verified: %d %s\n%s", status, path, page)
	}
	page1, err := user.NewSearcher(b.app.DB, nil).Find(ctx, b.first.InstanceID, user.Search{LoginName: "ada@example.com"}, userschema.Admin)
	if err != nil || len(page1.Users) != 1 {
		t.Fatal(page1, err)
	}
	u := page1.Users[0]
	if !u.EmailVerified || u.OrgID != b.first.OrgID || u.Type != "human" ||
		string(u.Traits) != `{"address":{"city":"Bern"},"name":"Ada","news":true,"size":"m"}` {
		t.Fatalf("the user: %+v traits %s", u, u.Traits)
	}
}

// Registration follows the settings in force for the organization.
func TestRegistrationNeedsTheSettings(t *testing.T) {
	b, _ := startWithMail(t)
	for _, path := range []string{"/ui/login/register", "/ui/login/register?organization=" + b.first.OrgID, "/ui/login/register/organization"} {
		if status, _, page := b.get(path); status != 403 || !strings.Contains(page, "Registration is not open here.") || strings.Contains(page, `name="email"`) {
			t.Fatalf("%s by default: %d\n%s", path, status, page)
		}
	}
	// The instance allows it, the organization does not.
	b.allow("", func(l *settings.Login) { l.SelfRegistration = true })
	if status, _, _ := b.get("/ui/login/register"); status != 200 {
		t.Fatalf("allowed: %d", status)
	}
	_, _, page := b.get("/ui/login/register")
	token := csrfField.FindStringSubmatch(page)[1]
	b.allow(b.first.OrgID, func(l *settings.Login) { l.SelfRegistration = false })
	if status, _, _ := b.get("/ui/login/register?organization=" + b.first.OrgID); status != 403 {
		t.Fatalf("the organization's override: %d", status)
	}
	form := url.Values{"csrf": {token}, "email": {"eve@example.com"}, "password": {"a good password 1"}, "repeat": {"a good password 1"}}
	req, _ := http.NewRequest(http.MethodPost, b.base+"/ui/login/register", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, _, _ := b.do(req); status != 403 {
		t.Fatalf("a post against the settings: %d", status)
	}
	if p, _ := user.NewSearcher(b.app.DB, nil).Find(ctx, b.first.InstanceID, user.Search{LoginName: "eve@example.com"}, userschema.Admin); len(p.Users) != 0 {
		t.Fatal("a user was created against the settings")
	}
	// An unknown organization is refused the same way.
	if status, _, _ := b.get("/ui/login/register?organization=nope"); status != 403 {
		t.Fatalf("an unknown organization: %d", status)
	}
}

// An address that has an account gets the answer of a new one, and a
// message saying it has an account; no code verifies.
func TestRegistrationOfAnExistingAddress(t *testing.T) {
	b, box := startWithMail(t)
	b.allow("", func(l *settings.Login) { l.SelfRegistration = true })
	if _, err := user.NewCommands(b.app.Store, b.app.Hasher).Create(ctx, eventstore.SystemEditor, b.first.InstanceID,
		user.New{OrgID: b.first.OrgID, Type: "human", LoginName: "bob@example.com", Email: "bob@example.com", Password: "a good password 1"}); err != nil {
		t.Fatal(err)
	}
	strip := regexp.MustCompile(`nonce="[^"]+"|value="[^"]+"|[a-z]+@example.com`)
	form := func(email string) []string {
		return []string{"email", email, "password", "another password 2", "repeat", "another password 2"}
	}
	status1, _, fresh := b.post("/ui/login/register", "/ui/login/register", form("new@example.com")...)
	status2, _, existing := b.post("/ui/login/register", "/ui/login/register", form("bob@example.com")...)
	if status1 != 200 || status1 != status2 || strip.ReplaceAllString(fresh, "") != strip.ReplaceAllString(existing, "") {
		t.Fatalf("new: %d\n%s\nexisting: %d\n%s", status1, fresh, status2, existing)
	}
	if mail := box.wait(t, "bob@example.com", 1); !strings.Contains(mail, "which already has one") || codeInMail.MatchString(mail) {
		t.Fatalf("the message to the existing address:\n%s", mail)
	}
	if status, _, page := b.post("/ui/login/register/verify", "/ui/login/register/verify", "code", "123456"); status != 400 || !strings.Contains(page, "The code is wrong.") {
		t.Fatalf("a code for an existing address: %d\n%s", status, page)
	}
}

// Organization sign-up creates the organization, its user, and makes the
// user its owner.
func TestOrganizationSignUp(t *testing.T) {
	b, box := startWithMail(t)
	if status, _, _ := b.get("/ui/login/register/organization"); status != 403 {
		t.Fatalf("not allowed by default: %d", status)
	}
	b.allow("", func(l *settings.Login) { l.OrgRegistration = true })
	status, _, page := b.get("/ui/login/register/organization")
	if status != 200 || !strings.Contains(page, `name="organizationName"`) || !strings.Contains(page, `name="trait/profile/given_name"`) {
		t.Fatalf("sign-up page: %d\n%s", status, page)
	}
	form := []string{"email", "carol@acme.example", "password", "a good password 1", "repeat", "a good password 1", "trait/profile/given_name", "Carol"}
	// The name of an existing organization is taken.
	status, _, page = b.post("/ui/login/register/organization", "/ui/login/register/organization", append(form, "organizationName", "First")...)
	if status != 400 || !strings.Contains(page, "This name is taken.") {
		t.Fatalf("a taken name: %d\n%s", status, page)
	}
	status, _, page = b.post("/ui/login/register/organization", "/ui/login/register/organization", append(form, "organizationName", "Acme")...)
	if status != 200 || !strings.Contains(page, "We sent a message to carol@acme.example") {
		t.Fatalf("signed up: %d\n%s", status, page)
	}
	status, path, page := b.post("/ui/login/register/verify", "/ui/login/register/verify", "code", box.code(t, "carol@acme.example", 1))
	if status != 200 || path != "/ui/login/done" {
		t.Fatalf("verified: %d %s\n%s", status, path, page)
	}
	orgs, err := org.List(ctx, b.app.DB, b.first.InstanceID, org.ListQuery{NamePrefix: "Acme"})
	if err != nil || len(orgs.Orgs) != 1 {
		t.Fatal(orgs, err)
	}
	acme := orgs.Orgs[0].ID
	found, _ := user.NewSearcher(b.app.DB, nil).Find(ctx, b.first.InstanceID, user.Search{LoginName: "carol@acme.example"}, userschema.Admin)
	if len(found.Users) != 1 || found.Users[0].OrgID != acme || !found.Users[0].EmailVerified {
		t.Fatalf("the user: %+v", found.Users)
	}
	members, err := member.List(ctx, b.app.DB, b.first.InstanceID, authz.Org(acme))
	if err != nil || len(members) != 1 || members[0].UserID != found.Users[0].ID || strings.Join(members[0].Roles, ",") != "org.owner" {
		t.Fatalf("members of the new organization: %+v %v", members, err)
	}
	// A sign-up refused for its user's password creates no organization.
	b2, _ := startWithMail(t)
	b2.allow("", func(l *settings.Login) { l.OrgRegistration = true })
	if status, _, page := b2.post("/ui/login/register/organization", "/ui/login/register/organization",
		"organizationName", "Initech", "email", "admin@x.example", "password", "short", "repeat", "short"); status != 400 {
		t.Fatalf("a weak password: %d\n%s", status, page)
	}
	if orgs, _ := org.List(ctx, b2.app.DB, b2.first.InstanceID, org.ListQuery{NamePrefix: "Initech"}); len(orgs.Orgs) != 0 {
		t.Fatal("an organization without its user")
	}
}

// The sign-in page links to the registration page only where it leads to
// a form: registration open, and one organization to register in (with
// several, each organization publishes its own link).
func TestSignInOffersRegistrationWhereItLeads(t *testing.T) {
	b, _ := startWithMail(t)
	const link = `href="/ui/login/register"`
	if _, _, page := b.get("/ui/login/"); strings.Contains(page, link) {
		t.Fatal("registration is offered while it is closed")
	}
	b.allow("", func(l *settings.Login) { l.SelfRegistration = true })
	if _, _, page := b.get("/ui/login/"); !strings.Contains(page, link) {
		t.Fatalf("registration is not offered:\n%s", page)
	}
	if _, err := org.NewCommands(b.app.Store, nil).Create(ctx, eventstore.SystemEditor, b.first.InstanceID, "Second"); err != nil {
		t.Fatal(err)
	}
	if _, _, page := b.get("/ui/login/"); strings.Contains(page, link) {
		t.Fatal("with two organizations, the link leads to a refusal")
	}
	if status, _, _ := b.get("/ui/login/register"); status != http.StatusForbidden {
		t.Fatalf("registration without an organization among two: %d", status)
	}
}
