package login

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/logout"
)

// Sign-out: the button of the login's pages, and the logouts an
// application starts at the provider's end-session endpoint, which hands
// them here sealed (package logout). Signing out ends every session the
// browser holds, and with them (session.Deps.Ended) the grants
// applications hold through them: their refresh tokens stop working, and
// those that asked are told (back-channel logout). An application's logout asks the user to
// confirm, unless its id_token_hint named a session this browser holds:
// otherwise any site could sign the user out by a link. It returns to the
// application's registered post-logout redirect URI when it gave one.

// logoutView is the data of the confirmation page.
type logoutView struct{ Request string }

// openLogout returns the application's logout sealed in the request
// parameter v, or ok false when there is none or it is not valid.
func (h *Handler) openLogout(r *http.Request, v string) (logout.Request, bool) {
	if v == "" {
		return logout.Request{}, false
	}
	req, err := logout.Open(h.d.Keys, instanceID(r), v, h.d.Sessions.Now())
	return req, err == nil
}

// logoutPage is where the end-session endpoint sends the browser.
func (h *Handler) logoutPage(w http.ResponseWriter, r *http.Request) {
	sealed := r.URL.Query().Get("request")
	req, ok := h.openLogout(r, sealed)
	if !ok {
		h.render(w, r, http.StatusBadRequest, "message", view{Title: "Sign out",
			Notice: "This sign-out request has expired or is not valid. Return to the application and try again."})
		return
	}
	if req.SessionID != "" {
		for _, s := range sessionsOf(r) {
			if s.ID == req.SessionID {
				h.signOut(w, r, req)
				return
			}
		}
	}
	if len(sessionsOf(r)) == 0 {
		h.signOut(w, r, req)
		return
	}
	h.render(w, r, http.StatusOK, "logout", view{Title: "Sign out", Page: logoutView{Request: sealed}})
}

// postLogout signs out: the button of the login's pages, or the
// confirmation of an application's logout.
func (h *Handler) postLogout(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "message", view{Title: "Signed out"}) {
		return
	}
	req, _ := h.openLogout(r, r.PostFormValue("request"))
	h.signOut(w, r, req)
}

// signOut ends the browser's sessions and their grants, and returns to
// the application of req when it named a redirect URI.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, req logout.Request) {
	editor := eventstore.Editor{ClientID: "login"}
	for _, s := range sessionsOf(r) {
		if err := h.d.Sessions.End(r.Context(), editor, instanceID(r), s.ID, s.Token, "signed out"); err != nil {
			if !failure.Is(err, failure.KindUnauthenticated) {
				h.d.Log.Warn("sign out", "err", err)
			}
			continue
		}
	}
	keepSessions(w, r, nil)
	v := view{Title: "Signed out", Notice: "You are signed out."}
	if req.RedirectURI != "" {
		to := req.RedirectURI
		if req.State != "" {
			to = addQuery(to, url.Values{"state": {req.State}})
		}
		// A post-logout redirect URI the client registered, checked by
		// the end-session endpoint and sealed since.
		v.Refresh = template.URL(to)
	}
	h.render(w, r, http.StatusOK, "message", v)
}

func addQuery(uri string, params url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}
