package login

import (
	"context"
	"html/template"
	"net/http"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/session"
)

// The login as the provider's: the authorization endpoint stores a
// request and sends the browser to /ui/login/?authRequest=<id>. The id is
// kept in a cookie while the user signs in, and the sign-in's end (the
// done page) finishes the request with the session and sends the browser
// back to the application with a code.
//
// prompt (OIDC Core section 3.1.2.1): none finishes with the browser's
// signed-in session or answers login_required; login (or a session older
// than max_age) asks for a new sign-in; select_account shows the accounts
// even when there is one; without a prompt, one signed-in session
// finishes at once (single sign-on) and several are offered to choose.
//
// The way back is a page that refreshes to the application (and links to
// it), not a redirect: the login's forms may only post to the login
// (form-action 'self'), and browsers apply that to the redirects that
// follow a form.

// AuthRequests finishes authorization requests (authreq.Requests).
type AuthRequests interface {
	Get(ctx context.Context, instanceID, id string) (authreq.Request, error)
	Finish(ctx context.Context, instanceID, id string, g authreq.Grant) (string, error)
	Deny(ctx context.Context, instanceID, id, code, description string) (string, error)
}

const authRequestCookie = "authreq"

// startAuthRequest is the login's entry for an authorization request.
func (h *Handler) startAuthRequest(w http.ResponseWriter, r *http.Request, id string) {
	if h.d.AuthRequests == nil {
		http.NotFound(w, r)
		return
	}
	req, err := h.d.AuthRequests.Get(r.Context(), instanceID(r), id)
	if err != nil {
		h.authRequestGone(w, r, err)
		return
	}
	setCookie(w, r, authRequestCookie, req.ID, int(authreq.Lifetime.Seconds()), http.SameSiteLaxMode)
	var accounts []account
	var first *session.Session
	if !req.HasPrompt("login") {
		for _, held := range sessionsOf(r) {
			s, err := h.d.Sessions.Get(r.Context(), instanceID(r), held.ID, held.Token)
			if err != nil || !s.Status.Authenticated || !authreq.Fresh(req, s, h.d.Sessions.Now()) {
				continue
			}
			if first == nil {
				first = &s
				keepSessions(w, r, withFirst(sessionsOf(r), held))
			}
			accounts = append(accounts, account{ID: s.ID, Name: h.nameOf(r.Context(), s)})
		}
	}
	switch {
	case req.HasPrompt("none") && first == nil:
		h.denyAuthRequest(w, r, req.ID, oauth.LoginRequired, "the user is not signed in")
	case req.HasPrompt("none") || first != nil && len(accounts) == 1 && !req.HasPrompt("select_account"):
		h.finishAuthRequest(w, r, req.ID, *first)
	case len(accounts) > 0:
		h.render(w, r, http.StatusOK, "select", view{Title: "Choose an account", Accounts: accounts})
	default:
		h.render(w, r, http.StatusOK, "name", view{Title: "Sign in", LoginName: req.LoginHint, Passkeys: h.passkeySignIn(r), Register: h.registrationOpen(r)})
	}
}

// pendingAuthRequest is the id of the browser's authorization request in
// progress, "" for none.
func pendingAuthRequest(r *http.Request) string {
	c, err := r.Cookie(cookieName(r, authRequestCookie))
	if err != nil || len(c.Value) > 64 {
		return ""
	}
	return c.Value
}

// finishAuthRequest finishes the request with a signed-in session and
// sends the browser back to the application — after asking the user's
// consent when the application is a third party's (consent.go).
func (h *Handler) finishAuthRequest(w http.ResponseWriter, r *http.Request, id string, s session.Session) {
	if h.needsConsent(w, r, id, s) {
		return
	}
	h.finishConsented(w, r, id, s)
}

// finishConsented finishes the request without asking.
func (h *Handler) finishConsented(w http.ResponseWriter, r *http.Request, id string, s session.Session) {
	to, err := h.d.AuthRequests.Finish(r.Context(), instanceID(r), id, authreq.GrantOf(s))
	setCookie(w, r, authRequestCookie, "", -1, http.SameSiteLaxMode)
	if err != nil {
		h.authRequestGone(w, r, err)
		return
	}
	// The URL is a redirect URI the client registered, checked by the
	// authorization endpoint, with the response's parameters.
	h.render(w, r, http.StatusOK, "continue", view{Title: "Signed in", LoginName: h.nameOf(r.Context(), s), Refresh: template.URL(to)})
}

func (h *Handler) denyAuthRequest(w http.ResponseWriter, r *http.Request, id, code, description string) {
	to, err := h.d.AuthRequests.Deny(r.Context(), instanceID(r), id, code, description)
	setCookie(w, r, authRequestCookie, "", -1, http.SameSiteLaxMode)
	if err != nil {
		h.authRequestGone(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusFound)
}

// authRequestGone tells that the application's request cannot be
// finished any more.
func (h *Handler) authRequestGone(w http.ResponseWriter, r *http.Request, err error) {
	if !failure.Is(err, failure.KindNotFound) {
		h.d.Log.Error("authorization request", "err", err)
		h.render(w, r, http.StatusInternalServerError, "message", view{Title: "Sign in", Error: "Something went wrong. Please try again."})
		return
	}
	h.render(w, r, http.StatusBadRequest, "message", view{Title: "Sign in",
		Notice: "This sign-in request has expired or was already used. Return to the application and start again."})
}

// continueAuthRequest finishes the browser's pending authorization
// request with s, if there is one; it reports whether it answered.
func (h *Handler) continueAuthRequest(w http.ResponseWriter, r *http.Request, s session.Session) bool {
	id := pendingAuthRequest(r)
	if id == "" || h.d.AuthRequests == nil {
		return false
	}
	h.finishAuthRequest(w, r, id, s)
	return true
}
