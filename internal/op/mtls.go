package op

import (
	"net/http"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/server"
)

// Certificate-bound clients and tokens (RFC 8705). The client
// certificate of a request is server.ClientCertificates: from the TLS
// connection (the main listener requests one and verifies nothing, the
// dedicated mTLS listener requires one) or from the header of a trusted
// reverse proxy. Which certificate is trusted is decided per client
// (client.Clients: the application's trust set, or its registered
// certificates), and a token is bound to the certificate of the request
// that obtained it (grant.Request.Certificate).

// mtlsAliases are the endpoints of the dedicated mTLS listener (RFC 8705
// section 5), for an instance whose issuer there is mtlsIssuer; nil when
// there is no such listener.
func (p *Provider) mtlsAliases(r *http.Request) map[string]string {
	if p.d.MTLSExternalURL == "" {
		return nil
	}
	inst, _ := p.issuer(r)
	iss := inst.Issuer(p.d.MTLSExternalURL)
	aliases := map[string]string{
		"token_endpoint":         iss + PathToken,
		"introspection_endpoint": iss + PathIntrospection,
		"revocation_endpoint":    iss + PathRevocation,
	}
	if _, ok := p.grants[oauth.GrantAuthorizationCode]; ok && p.d.AuthRequests != nil {
		aliases["pushed_authorization_request_endpoint"] = iss + PathPAR
		aliases["userinfo_endpoint"] = iss + PathUserinfo
	}
	if _, ok := p.grants[oauth.GrantDeviceCode]; ok && p.d.Devices != nil {
		aliases["device_authorization_endpoint"] = iss + PathDevice
	}
	return aliases
}

// certificateConfirmation is the cnf an introspection reports of a
// certificate-bound token, nil for a bearer token.
func certificateConfirmation(c *oauth.Confirmation) *oauth.Confirmation {
	if c == nil || *c == (oauth.Confirmation{}) {
		return nil
	}
	return c
}

// requestCertificate is the request's client certificate chain.
var requestCertificate = server.ClientCertificates
