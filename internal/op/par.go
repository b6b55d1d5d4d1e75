package op

import (
	"net/http"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
)

// par serves the pushed authorization request endpoint (RFC 9126): an
// authenticated client posts what it would send to the authorization
// endpoint, which is checked at once — every error answered here, as
// JSON, never at the redirect URI — and stored; the client then sends the
// browser to the authorization endpoint with only client_id and the
// request_uri returned, within authreq.PushedLifetime, once.
func (p *Provider) par(w http.ResponseWriter, r *http.Request) {
	form, c, err := p.authenticate(w, r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	app := c.Application()
	switch {
	case form.Has("request_uri"):
		err = oauth.Errorf(oauth.InvalidRequest, "request_uri cannot be pushed (RFC 9126 section 2.1)")
	case form.Get("redirect_uri") == "":
		err = oauth.Errorf(oauth.InvalidRequest, "redirect_uri is required")
	case !app.MatchRedirectURI(form.Get("redirect_uri")):
		err = oauth.Errorf(oauth.InvalidRequest, "redirect_uri is not registered for this client")
	case len(form.Get("state")) > maxState:
		err = oauth.Errorf(oauth.InvalidRequest, "state is longer than %d bytes", maxState)
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	inst, iss := p.issuer(r)
	req, err := checkAuthorize(form, app)
	if err == nil {
		req.Resources, err = p.checkResources(r.Context(), inst.ID, form)
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	// A proof at PAR binds the code to its key, as dpop_jkt would (RFC
	// 9449 section 10.1); both must then name the same key. A proof is
	// optional here even for a client that must use DPoP: the token
	// request is where a token is bound.
	proof, err := p.checkProof(w, r, inst.ID, dpop.Target{Method: r.Method, URL: iss + r.URL.Path}, app.DPoP.NonceRequired, false)
	if err == nil {
		err = fapiProof(app, proof)
	}
	switch {
	case err != nil:
	case proof != nil && req.DPoPJKT != "" && req.DPoPJKT != proof.JKT:
		err = oauth.Errorf(oauth.InvalidRequest, "dpop_jkt is not the thumbprint of the DPoP proof's key")
	case proof != nil:
		req.DPoPJKT = proof.JKT
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	req.InstanceID, req.ClientID, req.RedirectURI, req.Issuer, req.State = inst.ID, app.ClientID, form.Get("redirect_uri"), iss, form.Get("state")
	stored, err := p.d.AuthRequests.CreatePushed(r.Context(), req)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int64  `json:"expires_in"`
	}{authreq.RequestURIPrefix + stored.ID, int64(authreq.PushedLifetime.Seconds())})
}
