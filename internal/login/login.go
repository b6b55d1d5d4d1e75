package login

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/ratelimit"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Deps are what the login works with.
type Deps struct {
	DB       *database.DB
	Sessions *session.Commands
	// Users sets up a second factor for a user whose organization
	// requires one it has not registered.
	Users *user.Commands
	Keys  *keyring.Ring
	Log   *slog.Logger
	// SendCode delivers the codes that verify a user's email address or
	// phone number (the account pages).
	SendCode credential.CodeSender
	// Assets serves the files of the branding (/ui/assets/{id}); nil for
	// none.
	Assets AssetStore
	// Passkeys lists and removes a user's passkeys (the account pages).
	Passkeys *passkey.Commands
	// Mail renders and sends the emails that tell users of changes to
	// their authenticators and of an existing account; nil for none.
	Mail mail.Sender
	// Orgs and Members create an organization and make the user who
	// signed it up its owner (organization sign-up, register.go).
	Orgs    *org.Commands
	Members *member.Commands
}

// Handler serves the hosted login.
type Handler struct {
	d         Deps
	pages     map[string]*template.Template
	csrf      csrf
	cssPath   string
	css       []byte
	perClient *ratelimit.Limiter
}

// Posts from one client address within postWindow, on one replica, beyond
// which the login answers "too many attempts": the sessions' lockout
// counts per account, this per address.
const (
	postsPerClient = 60
	postWindow     = time.Minute
)

// New returns the login's handler.
func New(d Deps) (*Handler, error) {
	key, err := d.Keys.DeriveKey(d.Keys.CurrentID(), "login-csrf")
	if err != nil {
		return nil, err
	}
	css, err := fs.ReadFile(staticFiles, "static/login.css")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	h := &Handler{d: d, pages: map[string]*template.Template{}, csrf: csrf{key: key}, css: css,
		cssPath: "/ui/login/static/" + hex.EncodeToString(sum[:8]) + "/login.css", perClient: ratelimit.New(postsPerClient, postWindow, nil)}
	if h.d.Log == nil {
		h.d.Log = slog.New(slog.DiscardHandler)
	}
	files, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".html")
		if name == "layout" || name == "form" {
			continue
		}
		// form.html holds the template "fields" of generated forms
		// (form.go), which any page may use.
		t, err := template.New("layout.html").Funcs(template.FuncMap{"t": func(string, ...any) string { return "" }}).
			ParseFS(templateFiles, "templates/layout.html", "templates/form.html", file)
		if err != nil {
			return nil, err
		}
		h.pages[name] = t
	}
	return h, nil
}

// Routes lists the patterns of the login and their handlers.
// Each part of the login (sign-in here, passkeys, registration, the
// account pages) lists its own.
func (h *Handler) Routes() map[string]http.Handler {
	all := map[string]http.Handler{}
	for _, part := range []map[string]http.Handler{h.signInRoutes(), h.passkeyRoutes(), h.registerRoutes(), h.accountRoutes(), h.brandingRoutes()} {
		for p, handler := range part {
			all[p] = handler
		}
	}
	return all
}

func (h *Handler) signInRoutes() map[string]http.Handler {
	f := func(fn func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(fn) }
	return map[string]http.Handler{
		"GET /ui/login/{$}":                     f(h.index),
		"POST /ui/login/{$}":                    f(h.postName),
		"GET /ui/login/password":                f(h.passwordPage),
		"POST /ui/login/password":               f(h.postPassword),
		"GET /ui/login/password/change":         f(h.changePage),
		"POST /ui/login/password/change":        f(h.postChange),
		"GET /ui/login/code/{factor}":           f(h.codePage),
		"POST /ui/login/code/{factor}":          f(h.postCode),
		"GET /ui/login/setup":                   f(h.setupPage),
		"POST /ui/login/setup":                  f(h.postSetup),
		"GET /ui/login/done":                    f(h.done),
		"POST /ui/login/select":                 f(h.postSelect),
		"POST /ui/login/logout":                 f(h.postLogout),
		"GET /ui/login/static/{hash}/login.css": f(h.static),
	}
}

// view is what a page template is given.
type view struct {
	Lang, Nonce, CSRF, CSS, Instance string
	Title, Error, Notice             string
	LoginName                        string
	Passkeys                         bool
	// Register: the name page offers self-registration.
	Register bool
	// code pages
	Action, Label string
	Numeric       bool
	Others        []link
	// setup
	QR     template.URL // a data: URL of the PNG, built here
	Secret string
	// select
	Accounts []account
	// Page is the data of a page of another part of the login (its own
	// type, in its own file).
	Page any
	// Branding is the look of the organization of the sign-in, or of the
	// instance (branding.go).
	Branding brandingView
}

type link struct{ Href, Label string }

type account struct{ ID, Name string }

// render writes a page with status.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	tag := languageOf(r)
	p := printer(tag)
	token, err := h.csrf.token(w, r)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	inst, _ := instance.FromContext(r.Context())
	v.Lang, v.Nonce, v.CSRF, v.CSS, v.Instance = tag.String(), server.Nonce(r.Context()), token, h.cssPath, inst.Name
	v.Branding = h.brandingOf(r)
	t, err := h.pages[page].Clone()
	if err == nil {
		t = t.Funcs(template.FuncMap{"t": func(key string, args ...any) string { return p.Sprintf(key, args...) }})
	}
	if err != nil {
		h.d.Log.Error("login page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", v.Lang)
	w.Header().Set("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	if err := t.Execute(w, v); err != nil {
		h.d.Log.Warn("login page", "page", page, "err", err)
	}
}

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != h.cssPath {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(h.css)
}

func client(r *http.Request) session.Client {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return session.Client{Address: host, UserAgent: r.UserAgent()}
}

func instanceID(r *http.Request) string {
	inst, _ := instance.FromContext(r.Context())
	return inst.ID
}

// form checks a post: its size, its CSRF token, the client's rate. It
// renders the refusal itself and reports whether to go on.
func (h *Handler) form(w http.ResponseWriter, r *http.Request, page string, v view) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		v.Error = "Something went wrong. Please try again."
		h.render(w, r, http.StatusBadRequest, page, v)
		return false
	}
	if !h.csrf.valid(r) {
		v.Error = "The form has expired. Please try again."
		h.render(w, r, http.StatusForbidden, page, v)
		return false
	}
	if !h.perClient.Allow(client(r).Address) {
		v.Error = "Too many attempts. Wait a moment and try again."
		h.render(w, r, http.StatusTooManyRequests, page, v)
		return false
	}
	return true
}

// current is the session a sign-in in progress works on.
func (h *Handler) current(r *http.Request) (held, session.Session, error) {
	list := sessionsOf(r)
	if len(list) == 0 {
		return held{}, session.Session{}, failure.Unauthenticated("no session")
	}
	s, err := h.d.Sessions.Get(r.Context(), instanceID(r), list[0].ID, list[0].Token)
	return list[0], s, err
}

// ended shows that the sign-in must start again.
func (h *Handler) ended(w http.ResponseWriter, r *http.Request) {
	keepSessions(w, r, without(sessionsOf(r), firstID(r)))
	h.render(w, r, http.StatusOK, "message", view{Title: "Sign in", Notice: "Your sign-in has ended. Please start again."})
}

func firstID(r *http.Request) string {
	if l := sessionsOf(r); len(l) > 0 {
		return l[0].ID
	}
	return ""
}

// failed renders the answer to an error of a step: the step's own
// message for a failed check, a generic one otherwise.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, page string, v view, err error, checkFailed string) {
	switch {
	case failure.Is(err, failure.KindUnauthenticated):
		v.Error = checkFailed
		h.render(w, r, http.StatusUnauthorized, page, v)
	case failure.Is(err, failure.KindResourceExhausted) || errors.Is(err, context.DeadlineExceeded):
		v.Error = "Too many attempts. Wait a moment and try again."
		h.render(w, r, http.StatusTooManyRequests, page, v)
	case failure.Is(err, failure.KindInvalidArgument) || failure.Is(err, failure.KindFailedPrecondition):
		v.Error = checkFailed
		h.render(w, r, http.StatusBadRequest, page, v)
	default:
		h.d.Log.Error("login step", "page", page, "err", err)
		v.Error = "Something went wrong. Please try again."
		h.render(w, r, http.StatusServiceUnavailable, page, v)
	}
}

// proceed sends the browser to what the session needs next.
func (h *Handler) proceed(w http.ResponseWriter, r *http.Request, s session.Session) {
	to := stepPage(s)
	if to == "" {
		h.render(w, r, http.StatusOK, "message", view{Title: "Sign in", Notice: "This sign-in cannot be completed here. Ask your administrator."})
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// stepPage is the page of what the session needs next, "" when the login
// has none for it.
func stepPage(s session.Session) string {
	next := s.Status.Next
	switch {
	case s.Status.Authenticated:
		return "/ui/login/done"
	case slices.Contains(next, session.NextChangePassword):
		return "/ui/login/password/change"
	case slices.Contains(next, session.NextRegisterSecondFactor):
		return "/ui/login/setup"
	}
	for _, f := range next {
		if p := factorPage(f); p != "" {
			return p
		}
	}
	return ""
}

// factorPage is the page that checks a factor the session lists in Next.
func factorPage(f string) string {
	switch f {
	case string(session.FactorPassword):
		return "/ui/login/password"
	case string(session.FactorWebAuthn):
		return passkeyPath
	case string(session.FactorTOTP), string(session.FactorOTPEmail), string(session.FactorOTPSMS), string(session.FactorRecoveryCode):
		return "/ui/login/code/" + f
	}
	return ""
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("prompt") != "login" {
		var accounts []account
		for _, s := range sessionsOf(r) {
			got, err := h.d.Sessions.Get(r.Context(), instanceID(r), s.ID, s.Token)
			if err == nil && got.Status.Authenticated {
				accounts = append(accounts, account{ID: s.ID, Name: h.nameOf(r.Context(), got)})
			}
		}
		if len(accounts) > 0 {
			h.render(w, r, http.StatusOK, "select", view{Title: "Choose an account", Accounts: accounts})
			return
		}
	}
	h.render(w, r, http.StatusOK, "name", view{Title: "Sign in", Passkeys: h.passkeySignIn(r), Register: h.registrationOpen(r)})
}

// registrationOpen reports whether the instance's settings let people
// register themselves (the registration page decides for its
// organization).
func (h *Handler) registrationOpen(r *http.Request) bool {
	s, err := settings.Effective(r.Context(), h.d.DB, instanceID(r), "")
	return err == nil && s.Login.SelfRegistration && slices.Contains(s.Login.AllowedAuthenticators, settings.AuthPassword)
}

// nameOf is how a session's user is shown.
func (h *Handler) nameOf(ctx context.Context, s session.Session) string {
	if s.LoginName != "" {
		return s.LoginName
	}
	if u, err := user.Get(ctx, h.d.DB, s.InstanceID, s.UserID, userschema.Admin); err == nil {
		return u.LoginName
	}
	return s.UserID
}

func (h *Handler) postName(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Sign in"}
	if !h.form(w, r, "name", v) {
		return
	}
	name := r.PostFormValue("loginName")
	v.LoginName = name
	if name == "" || len(name) > 256 {
		v.Error = "Enter a login name."
		h.render(w, r, http.StatusBadRequest, "name", v)
		return
	}
	// A name ending in a domain an organization verified names that
	// organization: its settings apply to the sign-in from here on.
	var orgID string
	if at := strings.LastIndexByte(name, '@'); at >= 0 {
		if id, err := org.ByVerifiedDomain(r.Context(), h.d.DB, instanceID(r), name[at+1:]); err == nil {
			orgID = id
		}
	}
	s, token, _, err := h.d.Sessions.Create(r.Context(), instanceID(r), client(r), session.Checks{User: &session.UserCheck{LoginName: name, OrgID: orgID}}, session.Challenges{})
	if err != nil {
		h.failed(w, r, "name", v, err, "The login name or password is wrong.")
		return
	}
	keepSessions(w, r, withFirst(sessionsOf(r), held{ID: s.ID, Token: token}))
	h.proceed(w, r, s)
}

func (h *Handler) passwordPage(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	h.render(w, r, http.StatusOK, "password", view{Title: "Sign in", LoginName: s.LoginName})
}

func (h *Handler) postPassword(w http.ResponseWriter, r *http.Request) {
	cur, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	v := view{Title: "Sign in", LoginName: s.LoginName}
	if !h.form(w, r, "password", v) {
		return
	}
	pw := r.PostFormValue("password")
	if pw == "" {
		v.Error = "Enter the password."
		h.render(w, r, http.StatusBadRequest, "password", v)
		return
	}
	s, _, err = h.d.Sessions.Update(r.Context(), instanceID(r), cur.ID, cur.Token, client(r), session.Checks{Password: &pw}, session.Challenges{})
	if err != nil {
		h.failed(w, r, "password", v, err, "The login name or password is wrong.")
		return
	}
	h.proceed(w, r, s)
}

func (h *Handler) changePage(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	h.render(w, r, http.StatusOK, "change", view{Title: "Change your password", LoginName: s.LoginName})
}

func (h *Handler) postChange(w http.ResponseWriter, r *http.Request) {
	cur, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	v := view{Title: "Change your password", LoginName: s.LoginName}
	if !h.form(w, r, "change", v) {
		return
	}
	pw := r.PostFormValue("newPassword")
	if pw != r.PostFormValue("repeat") {
		v.Error = "The passwords differ."
		h.render(w, r, http.StatusBadRequest, "change", v)
		return
	}
	s, err = h.d.Sessions.ChangePassword(r.Context(), instanceID(r), cur.ID, cur.Token, pw)
	if err != nil {
		var fe *failure.Error
		if errors.As(err, &fe) && fe.Kind == failure.KindInvalidArgument {
			// The policy's own words: what the password lacks.
			v.Error = fe.Message
			h.render(w, r, http.StatusBadRequest, "change", v)
			return
		}
		h.failed(w, r, "change", v, err, "Something went wrong. Please try again.")
		return
	}
	h.proceed(w, r, s)
}

// codeFactors are the factors checked with a typed code: their page's
// labels and whether opening it sends a code.
var codeFactors = map[string]struct {
	label, notice string
	numeric       bool
	challenge     session.Challenges
}{
	string(session.FactorTOTP):         {"Authenticator app code", "Enter the six-digit code of your authenticator app.", true, session.Challenges{}},
	string(session.FactorRecoveryCode): {"Recovery code", "Enter one of your recovery codes.", false, session.Challenges{}},
	string(session.FactorOTPEmail):     {"Code sent by email", "We sent a code to your email address.", true, session.Challenges{OTPEmail: true}},
	string(session.FactorOTPSMS):       {"Code sent by SMS", "We sent a code to your phone.", true, session.Challenges{OTPSMS: true}},
}

func (h *Handler) codeView(s session.Session, factor string) view {
	f := codeFactors[factor]
	v := view{Title: "Second factor", LoginName: s.LoginName, Action: "/ui/login/code/" + factor, Label: f.label, Notice: f.notice, Numeric: f.numeric}
	for _, o := range s.Status.Next {
		if o != factor {
			if of, ok := codeFactors[o]; ok {
				v.Others = append(v.Others, link{Href: "/ui/login/code/" + o, Label: of.label})
			} else if o == string(session.FactorWebAuthn) {
				v.Others = append(v.Others, link{Href: passkeyPath, Label: "Security key or passkey"})
			}
		}
	}
	return v
}

func (h *Handler) codePage(w http.ResponseWriter, r *http.Request) {
	factor := r.PathValue("factor")
	f, ok := codeFactors[factor]
	if !ok {
		http.NotFound(w, r)
		return
	}
	cur, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	if f.challenge.OTPEmail || f.challenge.OTPSMS {
		if s, _, err = h.d.Sessions.Update(r.Context(), instanceID(r), cur.ID, cur.Token, client(r), session.Checks{}, f.challenge); err != nil {
			h.failed(w, r, "code", h.codeView(s, factor), err, "Something went wrong. Please try again.")
			return
		}
	}
	h.render(w, r, http.StatusOK, "code", h.codeView(s, factor))
}

func (h *Handler) postCode(w http.ResponseWriter, r *http.Request) {
	factor := r.PathValue("factor")
	if _, ok := codeFactors[factor]; !ok {
		http.NotFound(w, r)
		return
	}
	cur, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	v := h.codeView(s, factor)
	if !h.form(w, r, "code", v) {
		return
	}
	code := r.PostFormValue("code")
	if code == "" {
		v.Error = "Enter the code."
		h.render(w, r, http.StatusBadRequest, "code", v)
		return
	}
	var checks session.Checks
	switch session.Factor(factor) {
	case session.FactorTOTP:
		checks.TOTP = &code
	case session.FactorRecoveryCode:
		checks.RecoveryCode = &code
	case session.FactorOTPEmail:
		checks.OTPEmail = &code
	case session.FactorOTPSMS:
		checks.OTPSMS = &code
	}
	s, _, err = h.d.Sessions.Update(r.Context(), instanceID(r), cur.ID, cur.Token, client(r), checks, session.Challenges{})
	if err != nil {
		h.failed(w, r, "code", v, err, "The code is wrong.")
		return
	}
	h.proceed(w, r, s)
}

// setupPage registers a TOTP authenticator for a user who must have a
// second factor and has none, once its first factor is proven.
func (h *Handler) setupPage(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil || s.UserID == "" || !slices.Contains(s.Status.Next, session.NextRegisterSecondFactor) {
		h.ended(w, r)
		return
	}
	inst, _ := instance.FromContext(r.Context())
	reg, err := h.d.Users.AddTOTP(r.Context(), eventstore.Editor{UserID: s.UserID, ClientID: "login"}, s.InstanceID, s.UserID, inst.Name, h.d.Keys)
	if err != nil {
		h.failed(w, r, "message", view{Title: "Set up a second factor"}, err, "Something went wrong. Please try again.")
		return
	}
	h.render(w, r, http.StatusOK, "setup", view{Title: "Set up a second factor", LoginName: s.LoginName, Passkeys: h.passkeySetupOffered(r.Context(), s),
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(reg.QRCode)), Secret: reg.Secret})
}

func (h *Handler) postSetup(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil || s.UserID == "" || !slices.Contains(s.Status.Next, session.NextRegisterSecondFactor) {
		h.ended(w, r)
		return
	}
	v := view{Title: "Set up a second factor", LoginName: s.LoginName}
	if !h.form(w, r, "message", v) {
		return
	}
	err = h.d.Users.VerifyTOTP(r.Context(), eventstore.Editor{UserID: s.UserID, ClientID: "login"}, s.InstanceID, s.UserID, r.PostFormValue("code"), h.d.Keys)
	if err != nil {
		// Show the registration again (a fresh one: the secret is not
		// kept in the browser).
		h.failed(w, r, "message", view{Title: "Set up a second factor", Notice: "The code is wrong."}, err, "The code is wrong.")
		return
	}
	cv := h.codeView(s, string(session.FactorTOTP))
	cv.Notice = "Your authenticator is set up. Enter its next code to finish signing in."
	h.render(w, r, http.StatusOK, "code", cv)
}

func (h *Handler) done(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil || !s.Status.Authenticated {
		h.ended(w, r)
		return
	}
	h.render(w, r, http.StatusOK, "done", view{Title: "Signed in", LoginName: h.nameOf(r.Context(), s)})
}

func (h *Handler) postSelect(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "name", view{Title: "Sign in"}) {
		return
	}
	id := r.PostFormValue("session")
	list := sessionsOf(r)
	for _, s := range list {
		if s.ID == id {
			keepSessions(w, r, withFirst(list, s))
			http.Redirect(w, r, "/ui/login/done", http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, "/ui/login/", http.StatusSeeOther)
}

// postLogout ends every session of the browser.
func (h *Handler) postLogout(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "message", view{Title: "Signed out"}) {
		return
	}
	for _, s := range sessionsOf(r) {
		if err := h.d.Sessions.End(r.Context(), eventstore.Editor{ClientID: "login"}, instanceID(r), s.ID, s.Token, "signed out"); err != nil &&
			!failure.Is(err, failure.KindUnauthenticated) {
			h.d.Log.Warn("sign out", "err", err)
		}
	}
	keepSessions(w, r, nil)
	h.render(w, r, http.StatusOK, "message", view{Title: "Signed out", Notice: "You are signed out."})
}
