package op

import (
	"net/http"
	"net/url"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// Machine users with certificates. A machine user whose type allows the
// client_certificate authenticator and who registered a certificate
// (package machinecert) obtains its own token with client_credentials,
// presenting its user id as client_id, nothing else (no secret, no
// assertion), over a connection with its certificate — as a
// tls_client_auth or self_signed_tls_client_auth application would (RFC
// 8705 section 2). The token is bound to the certificate. A client_id
// that names an application is always the application's: user ids and
// client ids are both random 128-bit ids and never meet.

// isMachine reports whether a client_credentials request is a machine
// user's: a certificate, client_id alone in the form, and no application
// of that client id.
func (p *Provider) isMachine(r *http.Request, instanceID string, form url.Values) bool {
	if p.d.Machines == nil || len(requestCertificate(r.Context())) == 0 || r.Header.Get("Authorization") != "" || form.Get("client_id") == "" {
		return false
	}
	for _, name := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
		if form.Has(name) {
			return false
		}
	}
	_, err := p.d.Clients.Lookup(r.Context(), instanceID, form.Get("client_id"))
	return failure.Is(err, failure.KindNotFound)
}

// holder is who calls introspection or revocation: an application, or a
// machine user authenticated by its certificate, which introspects and
// revokes its own tokens only (their client_id is its user id).
type holder struct {
	clientID, orgID string
	// app is the application; nil for a machine user.
	app *client.Application
}

// authenticateHolder reads the form of an introspection or revocation
// request and authenticates its caller: a machine user when the request
// is one's (isMachine), else the client.
func (p *Provider) authenticateHolder(w http.ResponseWriter, r *http.Request) (url.Values, holder, error) {
	form, err := readForm(w, r)
	if err != nil {
		return nil, holder{}, err
	}
	inst, _ := p.issuer(r)
	if p.isMachine(r, inst.ID, form) {
		m, err := p.d.Machines(r.Context(), inst.ID, form.Get("client_id"), requestCertificate(r.Context()))
		if err != nil {
			return form, holder{}, err
		}
		return form, holder{clientID: m.UserID, orgID: m.OrgID}, nil
	}
	c, err := p.authenticateForm(r, form)
	if err != nil {
		return form, holder{}, err
	}
	app := c.Application()
	allowClientOrigin(w, r, app)
	return form, holder{clientID: app.ClientID, orgID: app.OrgID, app: &app}, nil
}
