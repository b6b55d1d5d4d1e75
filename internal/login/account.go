package login

// The account pages, under /ui/account/: a signed-in user's own profile,
// contact data, password, authenticators and sessions. They let a user do
// what the self-service API (package userapi's "My" methods) lets it do,
// and nothing more: traits within the schema's self permissions, verify
// (not change) its email address and phone number, change its password
// with the current one, add and remove its own second factors and
// passkeys, and end its own sessions.
//
// Who is signed in: the browser's current session (the first in the
// cookie), live and authenticated (session.Status.Authenticated) under the
// settings of the user's organization, for an active user. Anything else
// is sent to /ui/login/.
//
// Re-authentication: a change that could keep or lock out a user —
// adding or removing an authenticator (TOTP, recovery codes, sign-in
// codes, passkeys) — needs a recent check: a factor other than the user
// name (password, passkey, TOTP, an email or SMS code, a recovery code, an
// identity provider) proven in the session within reauthWindow. Without
// one the browser is sent to /ui/account/confirm, which checks the
// password (or, for a user without one, an authenticator app code) in the
// session again and returns to the page. A password change always asks
// for the current password, which is its own recent check.
//
// Every change is a POST with the login's CSRF token, under the login's
// per-address limit; codes sent for verification are further limited per
// user by package credential's policy. Users are told by email, when
// their address is verified, of changes to their authenticators, as the
// API tells them.

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// reauthWindow is how recent a check of the session must be for a
// sensitive change.
const reauthWindow = 10 * time.Minute

// accountRoutes lists the routes of this part of the login.
func (h *Handler) accountRoutes() map[string]http.Handler {
	f := func(fn func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(fn) }
	return map[string]http.Handler{
		"GET /ui/account/{$}":                       f(h.accountOverview),
		"GET /ui/account/confirm":                   f(h.confirmPage),
		"POST /ui/account/confirm":                  f(h.postConfirm),
		"GET /ui/account/second-factor":             f(h.secondFactorPage),
		"POST /ui/account/second-factor":            f(h.postSecondFactor),
		"POST /ui/account/second-factor/send":       f(h.postSendSecondFactor),
		"GET /ui/account/contact":                   f(h.contactPage),
		"POST /ui/account/contact/{channel}/send":   f(h.postSendContactCode),
		"POST /ui/account/contact/{channel}/verify": f(h.postVerifyContact),
		"GET /ui/account/password":                  f(h.accountPasswordPage),
		"POST /ui/account/password":                 f(h.postAccountPassword),
		"GET /ui/account/profile":                   f(h.profilePage),
		"POST /ui/account/profile":                  f(h.postProfile),
		"GET /ui/account/authenticators":            f(h.authenticatorsPage),
		"POST /ui/account/totp":                     f(h.postAddTOTP),
		"POST /ui/account/totp/verify":              f(h.postVerifyTOTP),
		"POST /ui/account/totp/remove":              f(h.postRemoveTOTP),
		"POST /ui/account/recovery-codes":           f(h.postRecoveryCodes),
		"POST /ui/account/recovery-codes/remove":    f(h.postRemoveRecoveryCodes),
		"POST /ui/account/sign-in-codes/{channel}":  f(h.postSignInCodes),
		"POST /ui/account/passkeys/remove":          f(h.postRemovePasskey),
		"GET /ui/account/sessions":                  f(h.sessionsPage),
		"POST /ui/account/applications/revoke":      f(h.postRevokeConsent),
		"POST /ui/account/sessions/end":             f(h.postEndSession),
		"POST /ui/account/sessions/end-others":      f(h.postEndOtherSessions),
	}
}

// signedIn is the browser's current session once it is authenticated,
// with its user as the user sees itself.
type signedIn struct {
	held    held
	session session.Session
	user    user.User
}

func (s signedIn) editor() eventstore.Editor {
	return eventstore.Editor{UserID: s.user.ID, ClientID: "login", SessionID: s.session.ID}
}

// signedIn finds who is signed in, or sends the browser on and reports
// false: to prove a second factor when the session proved the user but
// lacks one its settings or the user's authenticators ask for (a factor
// the user just added, say), to sign in otherwise.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) (signedIn, bool) {
	me, ok := h.proven(w, r)
	if !ok {
		return signedIn{}, false
	}
	if me.session.Status.Authenticated {
		return me, true
	}
	if secondFactorsOnly(me.session.Status.Next) {
		back := "/ui/account/"
		if r.Method == http.MethodGet {
			back = r.URL.RequestURI()
		}
		http.Redirect(w, r, "/ui/account/second-factor?next="+url.QueryEscape(accountNext(back)), http.StatusSeeOther)
		return signedIn{}, false
	}
	http.Redirect(w, r, "/ui/login/", http.StatusSeeOther)
	return signedIn{}, false
}

// proven is the browser's current session once a first factor proved its
// user, authenticated or not, for an active user; without one it sends
// the browser to sign in and reports false.
func (h *Handler) proven(w http.ResponseWriter, r *http.Request) (signedIn, bool) {
	cur, s, err := h.current(r)
	if err == nil && s.UserID != "" {
		u, err := user.Get(r.Context(), h.d.DB, s.InstanceID, s.UserID, userschema.Self)
		if err == nil && u.State == user.StateActive {
			return signedIn{held: cur, session: s, user: u}, true
		}
		if err != nil && !failure.Is(err, failure.KindNotFound) {
			h.d.Log.Error("account", "err", err)
			h.render(w, r, http.StatusServiceUnavailable, "message", view{Title: "Your account", Error: "Something went wrong. Please try again."})
			return signedIn{}, false
		}
	}
	http.Redirect(w, r, "/ui/login/", http.StatusSeeOther)
	return signedIn{}, false
}

// secondFactorsOnly reports whether next asks for nothing but a second
// factor.
func secondFactorsOnly(next []string) bool {
	for _, f := range next {
		switch session.Factor(f) {
		case session.FactorTOTP, session.FactorOTPEmail, session.FactorOTPSMS, session.FactorRecoveryCode, session.FactorWebAuthn:
		default:
			return false
		}
	}
	return len(next) > 0
}

// recent reports whether the session proved a factor beyond the user's
// name within reauthWindow.
func (h *Handler) recent(s session.Session) bool {
	now := h.d.Sessions.Now()
	for f, c := range s.Checks {
		if f != session.FactorUser && now.Sub(c.At) < reauthWindow {
			return true
		}
	}
	return false
}

// sensitive is the start of a sensitive change: the signed-in user, its
// form checked, with a recent check. Without one it sends the browser to
// confirm and come back to back.
func (h *Handler) sensitive(w http.ResponseWriter, r *http.Request, back string) (signedIn, bool) {
	me, ok := h.signedIn(w, r)
	if !ok || !h.form(w, r, "message", view{Title: "Your account"}) {
		return signedIn{}, false
	}
	if !h.recent(me.session) {
		http.Redirect(w, r, "/ui/account/confirm?next="+url.QueryEscape(back), http.StatusSeeOther)
		return signedIn{}, false
	}
	return me, true
}

// accountPost is the start of any other change: the signed-in user, its
// form checked.
func (h *Handler) accountPost(w http.ResponseWriter, r *http.Request) (signedIn, bool) {
	me, ok := h.signedIn(w, r)
	if !ok || !h.form(w, r, "message", view{Title: "Your account"}) {
		return signedIn{}, false
	}
	return me, true
}

// accountPage is the data of the account's pages.
type accountPage struct {
	// Section names the page, for the navigation.
	Section                      string
	LoginName                    string
	Email, Phone                 string
	EmailVerified, PhoneVerified bool
	Profile                      *traitForm
	Auth                         *authenticatorsPage
	TOTP                         *totpSetup
	// RecoveryCodes are new codes, shown once.
	RecoveryCodes []string
	Sessions      []sessionRow
	Confirm       *confirmForm
	Step          *stepUp
	// Channel is the contact channel a verification code was sent to.
	Channel string
	// Applications are the third-party applications the user allowed.
	Applications []consentedApplication
}

func (h *Handler) accountView(me signedIn, section, title string) (view, *accountPage) {
	p := &accountPage{Section: section, LoginName: me.user.LoginName, Email: me.user.Email, Phone: me.user.Phone,
		EmailVerified: me.user.EmailVerified, PhoneVerified: me.user.PhoneVerified}
	return view{Title: title, LoginName: me.user.LoginName, Page: p}, p
}

func (h *Handler) accountOverview(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	v, p := h.accountView(me, "overview", "Your account")
	p.Applications = h.consentedApplications(r.Context(), me.user.InstanceID, me.user.ID)
	h.render(w, r, http.StatusOK, "account", v)
}

// confirmForm is the re-authentication form.
type confirmForm struct {
	Next string
	// Password: the user has a password to confirm with; else TOTP, when
	// it has an authenticator app.
	Password, TOTP bool
}

// accountNext is where a confirmation returns to: a page of the account,
// nothing else.
func accountNext(next string) string {
	rest, ok := strings.CutPrefix(next, "/ui/account/")
	if !ok || len(next) > 100 || strings.Contains(rest, "//") ||
		strings.ContainsFunc(rest, func(c rune) bool { return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz0123456789-/?=&", c) }) {
		return "/ui/account/"
	}
	return next
}

func (h *Handler) confirmView(r *http.Request, me signedIn, next string) (view, error) {
	v, p := h.accountView(me, "confirm", "Confirm it is you")
	a, err := h.d.Users.Authenticators(r.Context(), me.user.InstanceID, me.user.ID)
	if err != nil {
		return v, err
	}
	p.Confirm = &confirmForm{Next: accountNext(next), Password: a.HasPassword, TOTP: !a.HasPassword && a.TOTP}
	return v, nil
}

func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	v, err := h.confirmView(r, me, r.URL.Query().Get("next"))
	if err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	h.render(w, r, http.StatusOK, "account_confirm", v)
}

func (h *Handler) postConfirm(w http.ResponseWriter, r *http.Request) {
	me, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	v, err := h.confirmView(r, me, r.PostFormValue("next"))
	if err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	form := v.Page.(*accountPage).Confirm
	var checks session.Checks
	wrong := "The password is wrong."
	switch {
	case form.Password:
		pw := r.PostFormValue("password")
		checks.Password = &pw
	case form.TOTP:
		code := r.PostFormValue("code")
		checks.TOTP = &code
		wrong = "The code is wrong."
	default:
		v.Error = "Sign in again to make this change."
		h.render(w, r, http.StatusForbidden, "account_confirm", v)
		return
	}
	if _, _, err := h.d.Sessions.Update(r.Context(), instanceID(r), me.held.ID, me.held.Token, client(r), checks, session.Challenges{}); err != nil {
		h.failed(w, r, "account_confirm", v, err, wrong)
		return
	}
	http.Redirect(w, r, form.Next, http.StatusSeeOther)
}
