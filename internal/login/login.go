package login

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/clientaddr"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/database"
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
	// AuthRequests are the provider's authorization requests the login
	// finishes (authrequest.go); nil for none.
	AuthRequests AuthRequests
	// Devices are the device authorization requests the user-code
	// screen approves (device.go); nil for none.
	Devices Devices
	// Consents remember what users allowed third-party applications
	// (consent.go); nil for none.
	Consents Consents
	// ExternalURL is the server's external URL, whose scheme and port the
	// links in emails take (instance.Issuer).
	ExternalURL string
	// PostsPerClient are the forms one client address may post per
	// postWindow; 0 is postsPerClient.
	PostsPerClient int
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
// which the login answers "too many attempts" (unless Deps.PostsPerClient
// says otherwise): the sessions' lockout counts per account, this per
// address.
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
	perClient := postsPerClient
	if d.PostsPerClient > 0 {
		perClient = d.PostsPerClient
	}
	h := &Handler{d: d, pages: map[string]*template.Template{}, csrf: csrf{key: key}, css: css,
		cssPath: "/ui/login/static/" + hex.EncodeToString(sum[:8]) + "/login.css", perClient: ratelimit.New(perClient, postWindow, nil)}
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
	for _, part := range []map[string]http.Handler{h.signInRoutes(), h.passkeyRoutes(), h.registerRoutes(), h.accountRoutes(), h.brandingRoutes(), h.deviceRoutes()} {
		for p, handler := range part {
			all[p] = withRequestState(handler)
		}
	}
	return all
}

type requestStateKey struct{}

// requestState is what one request learned once and uses again: the
// browser's current session, read by the handler and again by the page's
// branding.
type requestState struct {
	loaded bool
	cur    held
	s      session.Session
	err    error
}

func withRequestState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestStateKey{}, &requestState{})))
	})
}

// view is what a page template is given.
type view struct {
	Lang, Nonce, CSRF, CSS, Instance string
	Title, Error, Notice             string
	LoginName                        string
	Passkeys                         bool
	// EmailLink: the password page offers a sign-in link (emaillink.go).
	EmailLink bool
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
	// Refresh sends the browser on to an application (authrequest.go).
	Refresh template.URL
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
	sett := h.settingsOf(r)
	v.Branding = newBrandingView(sett.Branding)
	base, _ := tag.Base()
	texts := sett.Texts.Languages[base.String()]
	t, err := h.pages[page].Clone()
	if err == nil {
		// The level's own texts replace the catalogue's; both are plain
		// strings, which html/template escapes.
		t = t.Funcs(template.FuncMap{"t": func(key string, args ...any) string {
			if s, ok := texts[key]; ok {
				return settings.FormatText(s, args...)
			}
			return p.Sprintf(key, args...)
		}})
	}
	allowFraming(w, sett.Embedding)
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

// allowFraming lets the origins of the instance's embedding settings show
// the page in a frame: they replace the CSP's frame-ancestors 'none'
// (package server's pages group), and X-Frame-Options DENY, which cannot
// name an origin, is dropped. The origins were validated as origins when
// set (settings.Embedding): nothing else can reach the header.
func allowFraming(w http.ResponseWriter, e settings.Embedding) {
	if len(e.FrameAncestors) == 0 {
		return
	}
	hdr := w.Header()
	csp := hdr.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") {
		return
	}
	hdr.Set("Content-Security-Policy", strings.Replace(csp, "frame-ancestors 'none'", "frame-ancestors "+strings.Join(e.FrameAncestors, " "), 1))
	hdr.Del("X-Frame-Options")
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
	addr := ""
	if a := clientaddr.Of(r); a.IsValid() {
		addr = a.String()
	}
	return session.Client{Address: addr, UserAgent: r.UserAgent()}
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
// It is read once per request.
func (h *Handler) current(r *http.Request) (held, session.Session, error) {
	st, _ := r.Context().Value(requestStateKey{}).(*requestState)
	if st != nil && st.loaded {
		return st.cur, st.s, st.err
	}
	list := sessionsOf(r)
	if len(list) == 0 {
		return held{}, session.Session{}, failure.Unauthenticated("no session")
	}
	s, err := h.d.Sessions.Get(r.Context(), instanceID(r), list[0].ID, list[0].Token)
	if st != nil {
		st.loaded, st.cur, st.s, st.err = true, list[0], s, err
	}
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
