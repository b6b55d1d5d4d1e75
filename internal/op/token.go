package op

import (
	"net/http"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/op/grant"
)

// token serves the token endpoint (RFC 6749 section 3.2): it
// authenticates the client, checks that the grant type is served and that
// the client's application registered it, and hands over to the grant.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	form, c, err := p.authenticate(w, r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	allowClientOrigin(w, r, c.Application())
	gt := form.Get("grant_type")
	g, ok := p.grants[gt]
	switch {
	case gt == "":
		err = oauth.Errorf(oauth.InvalidRequest, "grant_type is required")
	case !ok:
		err = oauth.Errorf(oauth.UnsupportedGrantType, "grant type %.80q is not supported", gt)
	case !c.Application().Allows(gt):
		err = oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for grant type %s", gt)
	}
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	inst, iss := p.issuer(r)
	resp, err := g.Token(r.Context(), grant.Request{InstanceID: inst.ID, Issuer: iss, Client: c, Form: form})
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}
