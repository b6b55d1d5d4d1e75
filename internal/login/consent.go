package login

import (
	"context"
	"net/http"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	oauthclient "github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/consent"
	"github.com/castellan-iam/castellan/internal/session"
)

// Consent: before a third-party application gets what it asks for, the
// user allows it the scopes it requests — once per scope set (remembered,
// package consent), or each time with prompt=consent. prompt=none that
// would need to ask returns consent_required. Deny returns access_denied.
// The account page lists the applications the user allowed and revokes
// them (account_consents.go).

// Consents remember what users allowed third-party applications
// (consent.Consents).
type Consents interface {
	Covers(ctx context.Context, instanceID, userID, clientID string, scopes []string) (bool, error)
	Grant(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID, clientID string, scopes []string) error
	List(ctx context.Context, instanceID, userID string) ([]consent.Consent, error)
	Revoke(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID, clientID string) error
}

// consentView is the data of the consent page.
type consentView struct {
	Application string
	Scopes      []string
}

// scopeText is how a scope is described to the user; a scope of the
// application's own is shown as it is.
var scopeText = map[string]string{
	"openid":         "Know who you are",
	"profile":        "Your name and profile",
	"email":          "Your email address",
	"phone":          "Your phone number",
	"offline_access": "Stay connected while you are away",
}

// needsConsent shows the consent page (and reports true) when the
// request's application is a third party's and the user has not allowed
// its scopes, or it asked with prompt=consent.
func (h *Handler) needsConsent(w http.ResponseWriter, r *http.Request, id string, s session.Session) bool {
	if h.d.Consents == nil {
		return false
	}
	req, err := h.d.AuthRequests.Get(r.Context(), instanceID(r), id)
	if err != nil {
		return false // Finish reports it
	}
	app, err := oauthclient.ApplicationByClientID(r.Context(), h.d.DB, instanceID(r), req.ClientID)
	if err != nil || !app.ThirdParty {
		return false
	}
	covered, err := h.d.Consents.Covers(r.Context(), instanceID(r), s.UserID, app.ClientID, req.Scopes)
	if err != nil {
		h.authRequestGone(w, r, err)
		return true
	}
	if covered && !req.HasPrompt("consent") {
		return false
	}
	if req.HasPrompt("none") {
		h.denyAuthRequest(w, r, id, "consent_required", "the user has not allowed this application")
		return true
	}
	v := consentView{Application: app.Name}
	for _, sc := range req.Scopes {
		if text, ok := scopeText[sc]; ok {
			v.Scopes = append(v.Scopes, text)
		} else {
			v.Scopes = append(v.Scopes, sc)
		}
	}
	h.render(w, r, http.StatusOK, "consent", view{Title: "Allow access", LoginName: h.nameOf(r.Context(), s), Page: v})
	return true
}

// postConsent is the user's answer.
func (h *Handler) postConsent(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "message", view{Title: "Allow access"}) {
		return
	}
	_, s, err := h.current(r)
	id := pendingAuthRequest(r)
	if err != nil || !s.Status.Authenticated || id == "" || h.d.Consents == nil {
		h.ended(w, r)
		return
	}
	if r.PostFormValue("decision") != "allow" {
		h.denyAuthRequest(w, r, id, oauth.AccessDenied, "the user did not allow the application")
		return
	}
	req, err := h.d.AuthRequests.Get(r.Context(), instanceID(r), id)
	if err != nil {
		h.authRequestGone(w, r, err)
		return
	}
	editor := eventstore.Editor{UserID: s.UserID, ClientID: "login", SessionID: s.ID}
	if err := h.d.Consents.Grant(r.Context(), editor, instanceID(r), s.OrgID, s.UserID, req.ClientID, req.Scopes); err != nil {
		h.authRequestGone(w, r, err)
		return
	}
	h.finishConsented(w, r, id, s)
}

// consentedApplication is an application the user allowed, as the
// account page shows it.
type consentedApplication struct {
	ClientID, Name string
	Scopes         []string
}

// consentedApplications lists what the user allowed.
func (h *Handler) consentedApplications(ctx context.Context, instanceID, userID string) []consentedApplication {
	if h.d.Consents == nil {
		return nil
	}
	list, err := h.d.Consents.List(ctx, instanceID, userID)
	if err != nil {
		h.d.Log.Warn("consents", "err", err)
		return nil
	}
	var out []consentedApplication
	for _, c := range list {
		one := consentedApplication{ClientID: c.ClientID, Name: c.ClientID, Scopes: c.Scopes}
		if app, err := oauthclient.ApplicationByClientID(ctx, h.d.DB, instanceID, c.ClientID); err == nil {
			one.Name = app.Name
		}
		out = append(out, one)
	}
	return out
}

// postRevokeConsent revokes what the user allowed an application.
func (h *Handler) postRevokeConsent(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "message", view{Title: "Your account"}) {
		return
	}
	_, s, err := h.current(r)
	if err != nil || !s.Status.Authenticated || h.d.Consents == nil {
		http.Redirect(w, r, "/ui/login/", http.StatusSeeOther)
		return
	}
	err = h.d.Consents.Revoke(r.Context(), eventstore.Editor{UserID: s.UserID, ClientID: "login", SessionID: s.ID}, instanceID(r), s.OrgID, s.UserID, r.PostFormValue("client"))
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		h.d.Log.Warn("revoke consent", "err", err)
	}
	http.Redirect(w, r, "/ui/account/", http.StatusSeeOther)
}
