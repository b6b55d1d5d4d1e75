package op

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// clientAuthMethods are the client authentication methods of the token,
// introspection and revocation endpoints.
var clientAuthMethods = []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost}

// discovery serves the provider's metadata: OpenID Connect Discovery 1.0
// section 4 and RFC 8414 section 3, one document for both. Only what is
// served is listed: without the authorization endpoint, no response type.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	_, iss := p.issuer(r)
	grants := make([]string, 0, len(p.grants))
	for t := range p.grants {
		grants = append(grants, t)
	}
	slices.Sort(grants)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(token.KeySetMaxAge.Seconds())))
	writeJSON(w, http.StatusOK, oauth.Metadata{
		Issuer:                            iss,
		TokenEndpoint:                     iss + PathToken,
		JWKSURI:                           iss + PathKeys,
		IntrospectionEndpoint:             iss + PathIntrospection,
		RevocationEndpoint:                iss + PathRevocation,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               grants,
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{token.RS256, token.ES256, token.EdDSA},
		TokenEndpointAuthMethodsSupported: clientAuthMethods, IntrospectionEndpointAuthMethodsSupported: clientAuthMethods,
		RevocationEndpointAuthMethodsSupported: clientAuthMethods,
	})
}
