package login

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// The sign-in screens: login name, password, codes of second factors,
// password change, TOTP setup, account selection, the signed-in page and
// sign-out, each showing what the session says comes next.

// signInRoutes lists the routes of the sign-in screens.
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
		"GET /ui/login/logout":                  f(h.logoutPage),
		"POST /ui/login/consent":                f(h.postConsent),
		"POST /ui/login/logout":                 f(h.postLogout),
		"GET /ui/login/static/{hash}/login.css": f(h.static),
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
	if id := r.URL.Query().Get("authRequest"); id != "" {
		h.startAuthRequest(w, r, id)
		return
	}
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

// orgOfLoginName is the organization that verified the domain a login
// name ends in, or "".
func orgOfLoginName(ctx context.Context, db *database.DB, instanceID, name string) string {
	at := strings.LastIndexByte(name, '@')
	if at < 0 {
		return ""
	}
	id, err := org.ByVerifiedDomain(ctx, db, instanceID, name[at+1:])
	if err != nil {
		return ""
	}
	return id
}

// registrationOpen reports whether the sign-in page offers the
// registration page: the instance's settings let people register
// themselves, and the instance has one active organization, the one the
// page registers in without a link that names one (register.go). With
// several, each organization publishes its own link.
func (h *Handler) registrationOpen(r *http.Request) bool {
	s, err := settings.Effective(r.Context(), h.d.DB, instanceID(r), "")
	if err != nil || !s.Login.SelfRegistration || !slices.Contains(s.Login.AllowedAuthenticators, settings.AuthPassword) {
		return false
	}
	page, err := org.List(r.Context(), h.d.DB, instanceID(r), org.ListQuery{State: org.StateActive, PageSize: 2})
	return err == nil && page.TotalSize == 1
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
	orgID := orgOfLoginName(r.Context(), h.d.DB, instanceID(r), name)
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
	h.render(w, r, http.StatusOK, "password", view{Title: "Sign in", LoginName: s.LoginName, EmailLink: h.linkOffered(r, s)})
}

func (h *Handler) postPassword(w http.ResponseWriter, r *http.Request) {
	cur, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	v := view{Title: "Sign in", LoginName: s.LoginName, EmailLink: h.linkOffered(r, s)}
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
	reg, err := h.d.Users.AddTOTP(r.Context(), eventstore.Editor{UserID: s.UserID, ClientID: "login", SessionID: s.ID}, s.InstanceID, s.UserID, inst.Name, h.d.Keys)
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
	err = h.d.Users.VerifyTOTP(r.Context(), eventstore.Editor{UserID: s.UserID, ClientID: "login", SessionID: s.ID}, s.InstanceID, s.UserID, r.PostFormValue("code"), h.d.Keys)
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
	if h.continueAuthRequest(w, r, s) || h.continueDevice(w, r) {
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
