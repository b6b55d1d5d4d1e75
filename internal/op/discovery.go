package op

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// clientAuthMethods are the client authentication methods of the token,
// introspection and revocation endpoints.
var clientAuthMethods = []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT, oauth.AuthTLSClientAuth,
	oauth.AuthSelfSignedTLSClientAuth}

// tokenAuthMethods adds none: a public client redeems its code with
// PKCE and no secret.
var tokenAuthMethods = []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT, oauth.AuthTLSClientAuth,
	oauth.AuthSelfSignedTLSClientAuth, oauth.AuthNone}

// discovery serves the provider's metadata: OpenID Connect Discovery 1.0
// section 4 and RFC 8414 section 3, one document for both. Only what is
// served is listed: without the authorization endpoint, no response type.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	allowAnyOrigin(w)
	_, iss := p.issuer(r)
	grants := make([]string, 0, len(p.grants))
	for t := range p.grants {
		grants = append(grants, t)
	}
	slices.Sort(grants)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(token.KeySetMaxAge.Seconds())))
	m := oauth.Metadata{
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
	}
	if _, ok := p.grants[oauth.GrantAuthorizationCode]; ok && p.d.AuthRequests != nil {
		m.AuthorizationEndpoint, m.UserinfoEndpoint, m.EndSessionEndpoint = iss+PathAuthorize, iss+PathUserinfo, iss+PathEndSession
		m.ResponseTypesSupported, m.ResponseModesSupported = []string{"code"}, []string{"query"}
		m.CodeChallengeMethodsSupported = []string{oauth.PKCES256}
		m.ScopesSupported, m.ClaimsSupported, m.PromptValuesSupported = claims.Standard, claims.Supported, prompts
		m.AuthorizationResponseIssParameterSupported = true
		m.TokenEndpointAuthMethodsSupported = tokenAuthMethods
		m.PushedAuthorizationRequestEndpoint = iss + PathPAR
		m.BackchannelLogoutSupported, m.BackchannelLogoutSessionSupported = true, true
	}
	if _, ok := p.grants[oauth.GrantDeviceCode]; ok && p.d.Devices != nil {
		m.DeviceAuthorizationEndpoint = iss + PathDevice
	}
	m.TokenEndpointAuthSigningAlgValuesSupported = client.AssertionAlgorithms()
	if p.d.DPoP != nil {
		m.DPoPSigningAlgValuesSupported = dpop.AlgorithmNames()
	}
	m.TLSClientCertificateBoundAccessTokens, m.MTLSEndpointAliases = true, p.mtlsAliases(r)
	writeJSON(w, http.StatusOK, m)
}
