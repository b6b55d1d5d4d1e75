package op

import (
	"net/http"
	"net/url"

	"github.com/castellan-iam/castellan/internal/failure"
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
