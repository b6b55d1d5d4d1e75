package op

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/logout"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// endSession serves the end-session endpoint (OpenID Connect
// RP-Initiated Logout 1.0): GET or POST. It checks what the client sent —
// the id_token_hint (an ID token of this provider, expired or not), the
// client_id (which must be the hint's audience when both are given), and
// the post_logout_redirect_uri (which must be registered for that client)
// — and hands the logout, sealed, to the hosted login, which ends the
// browser's sessions. Anything wrong is a page for the user, never a
// redirect.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	params, err := authorizeParams(w, r)
	if err != nil {
		p.authorizeError(w, r, err)
		return
	}
	inst, iss := p.issuer(r)
	var req logout.Request
	clientID := params.Get("client_id")
	if hint := params.Get("id_token_hint"); hint != "" {
		c, err := p.d.Tokens.VerifyIDTokenHint(r.Context(), inst.ID, iss, hint)
		if errors.Is(err, token.ErrInactive) {
			p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "id_token_hint is not an ID token of this provider"))
			return
		}
		if err != nil {
			p.authorizeError(w, r, err)
			return
		}
		if clientID != "" && clientID != c.Audience[0] {
			p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "client_id is not the audience of id_token_hint"))
			return
		}
		clientID, req.SessionID = c.Audience[0], c.SessionID
	}
	if uri := params.Get("post_logout_redirect_uri"); uri != "" {
		if clientID == "" {
			p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "post_logout_redirect_uri needs client_id or id_token_hint"))
			return
		}
		app, err := p.d.Clients.Lookup(r.Context(), inst.ID, clientID)
		if failure.Is(err, failure.KindNotFound) {
			p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "unknown client_id"))
			return
		}
		if err != nil {
			p.authorizeError(w, r, err)
			return
		}
		if !app.MatchPostLogoutRedirectURI(uri) {
			p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "post_logout_redirect_uri is not registered for this client"))
			return
		}
		req.RedirectURI = uri
		if req.State = params.Get("state"); len(req.State) > maxState {
			p.authorizeError(w, r, oauth.Errorf(oauth.InvalidRequest, "state is longer than %d bytes", maxState))
			return
		}
	}
	req.ClientID = clientID
	sealed, err := logout.Seal(p.d.Sealer, inst.ID, req, p.d.Tokens.Now())
	if err != nil {
		p.authorizeError(w, r, err)
		return
	}
	http.Redirect(w, r, p.d.LoginPath+"logout?request="+url.QueryEscape(sealed), http.StatusFound)
}
