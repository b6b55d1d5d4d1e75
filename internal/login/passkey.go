package login

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"slices"

	"golang.org/x/text/language"
	"golang.org/x/text/message/catalog"

	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
)

// Passkeys in the hosted login, the one part that needs JavaScript
// (static/passkey.js, loaded with the page's nonce). A page holds a
// button; the script posts the page's CSRF token to a begin endpoint,
// which answers the options of a WebAuthn ceremony as JSON
// ({"options": {"publicKey": {...}}}, binary values in base64url), hands
// them to navigator.credentials, and posts the PublicKeyCredential (as the
// JSON go-webauthn parses, in the form field "credential") to a finish
// endpoint, which answers {"next": page} — or {"error": message} with a
// failure status — and goes there. Three ceremonies:
//
//   - Sign-in with a passkey alone: begin makes a new session with a
//     WebAuthn challenge for a discoverable credential (user verification
//     required); finish checks the assertion in it. The session's own
//     check decides whether the key may sign in alone.
//   - Second factor: when a first factor proved the user and the session
//     lists "webauthn" next, the same page asks for an assertion of one of
//     the user's credentials in that session.
//   - Registration: when the user must register a second factor, it may
//     register a security key or passkey (a second-factor credential),
//     then uses it once as the second factor.
//   - A signed-in user adds a passkey from its account's authenticators
//     (/ui/account/passkeys/add), after a recent check as every change of
//     authenticators (account.go): a passwordless one where the settings
//     allow signing in without a password, a second factor otherwise.
//
// The session stays in the browser's HttpOnly cookie, as in the password
// steps: the script never sees a session token.

// passkeyPath is the page of the passkey ceremonies.
const passkeyPath = "/ui/login/passkey"

// passkeyScript is the passkey pages' script.
var passkeyScript = mustHashedStatic("passkey.js", "text/javascript; charset=utf-8")

// hashedStatic is an embedded static file served under a path that holds
// a hash of its content, so that browsers may keep it for a year.
type hashedStatic struct {
	name, path, contentType string
	body                    []byte
}

// mustHashedStatic reads static/name; the file is embedded, so only a
// build without it fails.
func mustHashedStatic(name, contentType string) hashedStatic {
	body, err := fs.ReadFile(staticFiles, "static/"+name)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(body)
	return hashedStatic{name: name, path: "/ui/login/static/" + hex.EncodeToString(sum[:8]) + "/" + name, contentType: contentType, body: body}
}

// pattern is the route of the file, any hash included: a stale hash is
// not found.
func (f hashedStatic) pattern() string { return "GET /ui/login/static/{hash}/" + f.name }

func (f hashedStatic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != f.path {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(f.body)
}

// passkeyRoutes lists the routes of this part of the login.
func (h *Handler) passkeyRoutes() map[string]http.Handler {
	f := func(fn func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(fn) }
	return map[string]http.Handler{
		"GET " + passkeyPath:                    f(h.passkeyPage),
		"POST " + passkeyPath + "/begin":        f(h.passkeyBegin),
		"POST " + passkeyPath + "/finish":       f(h.passkeyFinish),
		"GET " + passkeyPath + "/next":          f(h.passkeyNext),
		"GET " + passkeyPath + "/setup":         f(h.passkeySetupPage),
		"POST " + passkeyPath + "/setup/begin":  f(h.passkeySetupBegin),
		"POST " + passkeyPath + "/setup/finish": f(h.passkeySetupFinish),
		"GET /ui/account/passkeys/add":          f(h.accountPasskeyPage),
		"POST /ui/account/passkeys/add/begin":   f(h.accountPasskeyBegin),
		"POST /ui/account/passkeys/add/finish":  f(h.accountPasskeyFinish),
		passkeyScript.pattern():                 passkeyScript,
	}
}

// passkeyMessages are the strings of the passkey pages, English to German;
// init adds them to the catalogue.
var passkeyMessages = map[string]string{
	"Sign in with a passkey saved on this device, on your phone or on a security key.": "Melden Sie sich mit einem Passkey an, der auf diesem Gerät, Ihrem Telefon oder einem Sicherheitsschlüssel gespeichert ist.",
	"Confirm that it is you with your security key or passkey.":                        "Bestätigen Sie mit Ihrem Sicherheitsschlüssel oder Passkey, dass Sie es sind.",
	"Use your security key or passkey":                                                 "Sicherheitsschlüssel oder Passkey verwenden",
	"Use a security key or passkey":                                                    "Sicherheitsschlüssel oder Passkey verwenden",
	"Your organization requires a second factor. Register a security key or passkey, then use it once to finish signing in.": "Ihre Organisation verlangt einen zweiten Faktor. Registrieren Sie einen Sicherheitsschlüssel oder Passkey und verwenden Sie ihn dann einmal, um die Anmeldung abzuschließen.",
	"Register a security key or passkey":                                             "Sicherheitsschlüssel oder Passkey registrieren",
	"Your security key or passkey is set up. Use it once more to finish signing in.": "Ihr Sicherheitsschlüssel oder Passkey ist eingerichtet. Verwenden Sie ihn noch einmal, um die Anmeldung abzuschließen.",
	"Use an authenticator app instead":                                               "Stattdessen eine Authenticator-App verwenden",
	"Sign in another way":                                                            "Anders anmelden",
	"Add a passkey":                                                                  "Passkey hinzufügen",
	"Add a passkey to sign in with this device, your phone or a security key.":       "Fügen Sie einen Passkey hinzu, um sich mit diesem Gerät, Ihrem Telefon oder einem Sicherheitsschlüssel anzumelden.",
	"Passkeys cannot be added to this account.":                                      "Diesem Konto können keine Passkeys hinzugefügt werden.",
	"Passkeys need JavaScript. Turn it on, or choose another way.":                   "Passkeys benötigen JavaScript. Schalten Sie es ein oder wählen Sie einen anderen Weg.",
	"This browser cannot use passkeys. Choose another way.":                          "Dieser Browser kann keine Passkeys verwenden. Bitte wählen Sie einen anderen Weg.",
	"The passkey could not be used. Try again or choose another way.":                "Der Passkey konnte nicht verwendet werden. Versuchen Sie es erneut oder wählen Sie einen anderen Weg.",
}

func init() {
	b := cat.(*catalog.Builder)
	for en, de := range passkeyMessages {
		_ = b.SetString(language.English, en, en)
		_ = b.SetString(language.German, en, de)
	}
}

// passkeyFailed is the one message of a ceremony that did not succeed:
// it says nothing of why.
const passkeyFailed = "The passkey could not be used. Try again or choose another way."

// passkeyView is the data of the passkey page (view.Page).
type passkeyView struct {
	Script, Begin, Finish string
	// Register: the ceremony registers a credential (credentials.create).
	Register      bool
	Intro, Button string
	Failed        string
	Back          link
}

// awaitsPasskey reports whether a session awaits a WebAuthn assertion as
// its second factor: a first factor proved its user, and it lists
// "webauthn" among what comes next.
func awaitsPasskey(s session.Session) bool {
	return s.UserID != "" && !s.Status.Authenticated && slices.Contains(s.Status.Next, string(session.FactorWebAuthn))
}

// passkeySignIn reports whether the name page offers signing in with a
// passkey alone: the instance's login settings allow it. (Before the
// sign-in names its user, no organization's settings are known.)
func (h *Handler) passkeySignIn(r *http.Request) bool {
	sett, err := settings.Effective(r.Context(), h.d.DB, instanceID(r), "")
	return err == nil && sett.Login.PasswordlessAllowed && slices.Contains(sett.Login.AllowedAuthenticators, settings.AuthPasskey)
}

// passkeyPage asks for an assertion: as the second factor of the sign-in
// in progress when it awaits one, to sign in with a passkey alone
// otherwise.
func (h *Handler) passkeyPage(w http.ResponseWriter, r *http.Request) {
	pv := passkeyView{Script: passkeyScript.path, Begin: passkeyPath + "/begin", Finish: passkeyPath + "/finish", Failed: passkeyFailed}
	if _, s, err := h.current(r); err == nil && awaitsPasskey(s) {
		pv.Intro, pv.Button = "Confirm that it is you with your security key or passkey.", "Use your security key or passkey"
		v := view{Title: "Second factor", LoginName: s.LoginName, Page: pv}
		for _, o := range s.Status.Next {
			if of, ok := codeFactors[o]; ok {
				v.Others = append(v.Others, link{Href: factorPage(o), Label: of.label})
			}
		}
		if r.URL.Query().Has("registered") {
			v.Notice = "Your security key or passkey is set up. Use it once more to finish signing in."
		}
		h.render(w, r, http.StatusOK, "passkey", v)
		return
	}
	pv.Intro, pv.Button = "Sign in with a passkey saved on this device, on your phone or on a security key.", "Use a passkey"
	pv.Back = link{Href: "/ui/login/?prompt=login", Label: "Sign in another way"}
	h.render(w, r, http.StatusOK, "passkey", view{Title: "Sign in", Page: pv})
}

// passkeyBegin challenges the sign-in in progress when it awaits a
// second factor, or makes a new session for a passkey alone, whose
// assertion names the user; the new session replaces an unfinished one
// as the browser's first.
func (h *Handler) passkeyBegin(w http.ResponseWriter, r *http.Request) {
	if !h.scriptForm(w, r) {
		return
	}
	cur, s, curErr := h.current(r)
	if curErr == nil && awaitsPasskey(s) {
		_, a, err := h.d.Sessions.Update(r.Context(), instanceID(r), cur.ID, cur.Token, client(r), session.Checks{},
			session.Challenges{WebAuthn: &session.WebAuthnChallenge{UserVerification: "preferred"}})
		if err != nil {
			h.scriptFailed(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(a.WebAuthnOptions)})
		return
	}
	created, token, a, err := h.d.Sessions.Create(r.Context(), instanceID(r), client(r), session.Checks{},
		session.Challenges{WebAuthn: &session.WebAuthnChallenge{UserVerification: "required"}})
	if err != nil {
		h.scriptFailed(w, r, err)
		return
	}
	list := sessionsOf(r)
	if len(list) > 0 && (curErr != nil || !s.Status.Authenticated) {
		list = list[1:]
	}
	keepSessions(w, r, withFirst(list, held{ID: created.ID, Token: token}))
	writeJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(a.WebAuthnOptions)})
}

// passkeyFinish checks the assertion in the browser's first session and
// answers the page of what it needs next.
func (h *Handler) passkeyFinish(w http.ResponseWriter, r *http.Request) {
	if !h.scriptForm(w, r) {
		return
	}
	cur, _, err := h.current(r)
	if err != nil {
		h.scriptRefused(w, r, http.StatusUnauthorized, "Your sign-in has ended. Please start again.")
		return
	}
	assertion := r.PostFormValue("credential")
	if assertion == "" {
		h.scriptRefused(w, r, http.StatusBadRequest, passkeyFailed)
		return
	}
	s, _, err := h.d.Sessions.Update(r.Context(), instanceID(r), cur.ID, cur.Token, client(r), session.Checks{WebAuthn: []byte(assertion)}, session.Challenges{})
	if err != nil {
		h.scriptFailed(w, r, err)
		return
	}
	next := stepPage(s)
	if next == "" {
		// The login has no page for it: /next renders what proceed says.
		next = passkeyPath + "/next"
	}
	writeJSON(w, http.StatusOK, map[string]string{"next": next})
}

// passkeyNext sends the browser on from the sign-in in progress, as a
// password step would after its post.
func (h *Handler) passkeyNext(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	h.proceed(w, r, s)
}

// maxScriptPost bounds a post of the passkey script: a WebAuthn response
// and the form's other fields.
const maxScriptPost = passkey.MaxResponseSize + 4<<10

// scriptForm checks a post of the passkey script as form checks a page's
// — its size, the page's CSRF token (the form field csrf), the client's
// rate — and answers a refusal as JSON.
func (h *Handler) scriptForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxScriptPost)
	if err := r.ParseForm(); err != nil {
		h.scriptRefused(w, r, http.StatusBadRequest, "Something went wrong. Please try again.")
		return false
	}
	if !h.csrf.valid(r) {
		h.scriptRefused(w, r, http.StatusForbidden, "The form has expired. Please try again.")
		return false
	}
	if !h.perClient.Allow(client(r).Address) {
		h.scriptRefused(w, r, http.StatusTooManyRequests, "Too many attempts. Wait a moment and try again.")
		return false
	}
	return true
}

// scriptFailed answers an error of a ceremony: the one message for a
// refused one, with the reason logged at debug level; a generic one for a
// fault.
func (h *Handler) scriptFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case failure.Is(err, failure.KindUnauthenticated):
		h.d.Log.Debug("passkey refused", "err", err)
		h.scriptRefused(w, r, http.StatusUnauthorized, passkeyFailed)
	case failure.Is(err, failure.KindInvalidArgument) || failure.Is(err, failure.KindFailedPrecondition) || failure.Is(err, failure.KindNotFound):
		h.d.Log.Debug("passkey refused", "err", err)
		h.scriptRefused(w, r, http.StatusBadRequest, passkeyFailed)
	case failure.Is(err, failure.KindResourceExhausted) || errors.Is(err, context.DeadlineExceeded):
		h.scriptRefused(w, r, http.StatusTooManyRequests, "Too many attempts. Wait a moment and try again.")
	default:
		h.d.Log.Error("passkey step", "path", r.URL.Path, "err", err)
		h.scriptRefused(w, r, http.StatusServiceUnavailable, "Something went wrong. Please try again.")
	}
}

// scriptRefused answers {"error": message}, in the page's language.
func (h *Handler) scriptRefused(w http.ResponseWriter, r *http.Request, status int, message string) {
	writeJSON(w, status, map[string]string{"error": printer(languageOf(r)).Sprintf(message)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
