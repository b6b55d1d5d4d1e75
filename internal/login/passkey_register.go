package login

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Registering WebAuthn credentials from the hosted login: a second factor
// set up during a sign-in that requires one, and a passkey added from the
// account pages. The ceremonies run in the passkey script (passkey.go).

// passkeyRegistrant returns the user of a session that must register a
// second factor and may register a WebAuthn credential
// (user.MayRegisterPasskey); ok is false otherwise.
func (h *Handler) passkeyRegistrant(ctx context.Context, s session.Session) (u user.User, ok bool) {
	if h.d.Passkeys == nil || s.UserID == "" || !slices.Contains(s.Status.Next, session.NextRegisterSecondFactor) {
		return user.User{}, false
	}
	u, err := user.Get(ctx, h.d.DB, s.InstanceID, s.UserID, userschema.Admin)
	if err != nil {
		return user.User{}, false
	}
	if err := user.MayRegisterPasskey(ctx, h.d.DB, u, false); err != nil {
		if !failure.Is(err, failure.KindFailedPrecondition) {
			h.d.Log.Warn("passkey registration", "err", err)
		}
		return user.User{}, false
	}
	return u, true
}

// passkeySetupOffered reports whether the second factor setup offers a
// security key or passkey.
func (h *Handler) passkeySetupOffered(ctx context.Context, s session.Session) bool {
	_, ok := h.passkeyRegistrant(ctx, s)
	return ok
}

// passkeySetupPage offers a user who must register a second factor to
// register a security key or passkey.
func (h *Handler) passkeySetupPage(w http.ResponseWriter, r *http.Request) {
	_, s, err := h.current(r)
	if err != nil {
		h.ended(w, r)
		return
	}
	if _, ok := h.passkeyRegistrant(r.Context(), s); !ok {
		h.ended(w, r)
		return
	}
	h.render(w, r, http.StatusOK, "passkey", view{Title: "Set up a second factor", LoginName: s.LoginName, Page: passkeyView{
		Script: passkeyScript.path, Begin: passkeyPath + "/setup/begin", Finish: passkeyPath + "/setup/finish", Register: true, Failed: passkeyFailed,
		Intro:  "Your organization requires a second factor. Register a security key or passkey, then use it once to finish signing in.",
		Button: "Register a security key or passkey", Back: link{Href: "/ui/login/setup", Label: "Use an authenticator app instead"},
	}})
}

// passkeySetupBegin begins registering a second-factor credential of the
// session's user. The ceremony id goes to the script, which sends it back
// with the response: the ceremony is bound to the user, and its id is
// unguessable.
func (h *Handler) passkeySetupBegin(w http.ResponseWriter, r *http.Request) {
	if !h.scriptForm(w, r) {
		return
	}
	if u, ok := h.registrant(w, r); ok {
		h.beginRegistration(w, r, u, false)
	}
}

// passkeySetupFinish records the credential and sends the browser to the
// passkey page, which asks for an assertion with it as the second factor.
func (h *Handler) passkeySetupFinish(w http.ResponseWriter, r *http.Request) {
	if !h.scriptForm(w, r) {
		return
	}
	u, ok := h.registrant(w, r)
	if !ok {
		return
	}
	response := r.PostFormValue("credential")
	if response == "" {
		h.scriptRefused(w, r, http.StatusBadRequest, passkeyFailed)
		return
	}
	_, err := h.d.Passkeys.FinishRegistration(r.Context(), eventstore.Editor{UserID: u.ID, ClientID: "login"}, u.Aggregate(),
		r.PostFormValue("ceremony"), "", []byte(response))
	if err != nil {
		h.scriptFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"next": passkeyPath + "?registered"})
}

// registrant is the user of the browser's sign-in in progress who may
// register a credential now; otherwise it answers the refusal.
func (h *Handler) registrant(w http.ResponseWriter, r *http.Request) (user.User, bool) {
	_, s, err := h.current(r)
	if err != nil {
		h.scriptRefused(w, r, http.StatusUnauthorized, "Your sign-in has ended. Please start again.")
		return user.User{}, false
	}
	u, ok := h.passkeyRegistrant(r.Context(), s)
	if !ok {
		h.scriptRefused(w, r, http.StatusForbidden, passkeyFailed)
	}
	return u, ok
}

// accountPasskeyPath is the page that adds a passkey to the account.
const accountPasskeyPath = "/ui/account/passkeys/add"

// accountPasskeyPage lets a signed-in user add a passkey, after a recent
// check.
func (h *Handler) accountPasskeyPage(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	if !h.recent(me.session) {
		http.Redirect(w, r, "/ui/account/confirm?next="+url.QueryEscape(accountPasskeyPath), http.StatusSeeOther)
		return
	}
	v := view{Title: "Add a passkey", LoginName: me.user.LoginName}
	if _, err := h.accountPasskeyKind(r.Context(), me.user); err != nil {
		v.Notice = "Passkeys cannot be added to this account."
		h.render(w, r, http.StatusForbidden, "message", v)
		return
	}
	v.Page = passkeyView{Script: passkeyScript.path, Begin: accountPasskeyPath + "/begin", Finish: accountPasskeyPath + "/finish", Register: true,
		Failed: passkeyFailed, Intro: "Add a passkey to sign in with this device, your phone or a security key.", Button: "Add a passkey",
		Back: link{Href: backToAuthenticators, Label: "Back"}}
	h.render(w, r, http.StatusOK, "passkey", v)
}

// accountPasskeyKind answers whether the user may add a passwordless
// passkey, else whether a second-factor one; an error when neither.
func (h *Handler) accountPasskeyKind(ctx context.Context, u user.User) (passwordless bool, err error) {
	if h.d.Passkeys == nil {
		return false, failure.FailedPrecondition("passkeys are not available")
	}
	if err := user.MayRegisterPasskey(ctx, h.d.DB, u, true); err == nil {
		return true, nil
	}
	return false, user.MayRegisterPasskey(ctx, h.d.DB, u, false)
}

// accountRegistrant is the signed-in user of the browser when it may add
// a passkey now (authenticated, with a recent check); otherwise it answers
// the refusal.
func (h *Handler) accountRegistrant(w http.ResponseWriter, r *http.Request) (u user.User, passwordless, ok bool) {
	_, s, err := h.current(r)
	if err != nil || !s.Status.Authenticated || !h.recent(s) {
		h.scriptRefused(w, r, http.StatusUnauthorized, "Your sign-in has ended. Please start again.")
		return user.User{}, false, false
	}
	u, err = user.Get(r.Context(), h.d.DB, s.InstanceID, s.UserID, userschema.Self)
	if err != nil || u.State != user.StateActive {
		h.scriptRefused(w, r, http.StatusUnauthorized, "Your sign-in has ended. Please start again.")
		return user.User{}, false, false
	}
	if passwordless, err = h.accountPasskeyKind(r.Context(), u); err != nil {
		h.scriptRefused(w, r, http.StatusForbidden, "Passkeys cannot be added to this account.")
		return user.User{}, false, false
	}
	return u, passwordless, true
}

func (h *Handler) accountPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	if !h.scriptForm(w, r) {
		return
	}
	if u, passwordless, ok := h.accountRegistrant(w, r); ok {
		h.beginRegistration(w, r, u, passwordless)
	}
}

// beginRegistration answers the script with the creation options of a
// registration of u's and the ceremony's id, which it sends back.
func (h *Handler) beginRegistration(w http.ResponseWriter, r *http.Request, u user.User, passwordless bool) {
	ceremony, opts, err := h.d.Passkeys.BeginRegistration(r.Context(), u.Aggregate(), passkey.UserInfo{ID: u.ID, LoginName: u.LoginName}, passwordless)
	if err != nil {
		h.scriptFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": json.RawMessage(opts), "ceremony": ceremony})
}

// accountPasskeyFinish records the passkey, tells the user by email, and
// sends the browser back to the authenticators.
func (h *Handler) accountPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	if !h.scriptForm(w, r) {
		return
	}
	u, _, ok := h.accountRegistrant(w, r)
	if !ok {
		return
	}
	response := r.PostFormValue("credential")
	if response == "" {
		h.scriptRefused(w, r, http.StatusBadRequest, passkeyFailed)
		return
	}
	cred, err := h.d.Passkeys.FinishRegistration(r.Context(), eventstore.Editor{UserID: u.ID, ClientID: "login"}, u.Aggregate(),
		r.PostFormValue("ceremony"), "", []byte(response))
	if err != nil {
		h.scriptFailed(w, r, err)
		return
	}
	h.notifyPasskey(r.Context(), u, cred.Name, true)
	writeJSON(w, http.StatusOK, map[string]string{"next": backToAuthenticators + "?done=passkey-added"})
}
