package op

import (
	"net/http"
	"net/url"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/op/grant"
	"github.com/castellan-iam/castellan/internal/server"
)

// token serves the token endpoint (RFC 6749 section 3.2): it
// authenticates the client, checks that the grant type is served and that
// the client's application registered it, and hands over to the grant. A
// grant.ClientOptional grant (JWT bearer) also runs for a request that
// presents no client credentials at all.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	form, err := readForm(w, r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	gt := form.Get("grant_type")
	g, ok := p.grants[gt]
	inst, iss := p.issuer(r)
	req := grant.Request{InstanceID: inst.ID, Issuer: iss, Endpoint: iss + r.URL.Path, Form: form, Certificate: server.ClientCertificate(r.Context())}
	if gt == oauth.GrantClientCredentials && p.isMachine(r, inst.ID, form) {
		m, err := p.d.Machines(r.Context(), inst.ID, form.Get("client_id"), requestCertificate(r.Context()))
		if err != nil {
			p.writeError(w, r, err)
			return
		}
		req.NoClient, req.Machine = true, m
	} else if _, optional := g.(grant.ClientOptional); ok && optional && !presentsClient(r, form) {
		req.NoClient = true
	} else {
		c, err := p.authenticateForm(r, form)
		if err != nil {
			p.writeError(w, r, err)
			return
		}
		allowClientOrigin(w, r, c.Application())
		req.Client = c
	}
	var app client.Application
	if !req.NoClient {
		app = req.Client.Application()
	}
	switch {
	case gt == "":
		err = oauth.Errorf(oauth.InvalidRequest, "grant_type is required")
	case !ok:
		err = oauth.Errorf(oauth.UnsupportedGrantType, "grant type %.80q is not supported", gt)
	case !req.NoClient && !app.Allows(gt):
		err = oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for grant type %s", gt)
	default:
		// The proof is checked (and its jti spent) only for a request
		// the grant will answer (RFC 9449 section 5); the grant binds
		// what it issues to the proof's key.
		req.DPoP, err = p.proofOf(w, r, inst.ID, req.Endpoint, app)
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	resp, err := g.Token(r.Context(), req)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	w.Header()["Pragma"] = noCache
	writeJSON(w, http.StatusOK, resp)
}

// presentsClient reports whether a request carries client credentials of
// any method, or names a client.
func presentsClient(r *http.Request, form url.Values) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	for _, name := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if form.Has(name) {
			return true
		}
	}
	return false
}
