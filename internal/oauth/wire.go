package oauth

import "encoding/json"

// Grant types (RFC 6749 section 4, RFC 7523, RFC 8693, RFC 8628).
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Client authentication methods at the token endpoint (RFC 8414 section 2,
// OIDC Core section 9).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none"
	AuthPrivateKeyJWT     = "private_key_jwt"
	// AuthTLSClientAuth and AuthSelfSignedTLSClientAuth authenticate
	// with the TLS client certificate (RFC 8705 section 2).
	AuthTLSClientAuth           = "tls_client_auth"
	AuthSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// Confirmation is the cnf claim (RFC 7800) of a sender-constrained token:
// the certificate (RFC 8705) or the DPoP key (RFC 9449) it is bound to.
type Confirmation struct {
	X5TS256 string `json:"x5t#S256,omitempty"`
	JKT     string `json:"jkt,omitempty"`
}

// MayAct is the may_act claim (RFC 8693 section 4.4): the one party
// allowed to act for the token's subject in a token exchange — its sub,
// and the client its token must have been issued to when ClientID is set.
type MayAct struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
}

// Token type identifiers (RFC 8693 section 3).
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
)

// PKCE (RFC 7636).
const PKCES256 = "S256"

// TokenTypeDPoP is the token_type of a DPoP-bound access token (RFC 9449
// section 5), in token and introspection responses.
const TokenTypeDPoP = "DPoP"

// TokenResponse is a successful token response (RFC 6749 section 5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	// IDToken and RefreshToken come with the authorization code and
	// refresh grants.
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	// IssuedTokenType is set by token exchange (RFC 8693 section 2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// Introspection is an introspection response (RFC 7662 section 2.2). An
// inactive token is {"active": false} and nothing else.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	// Act is the actor of a delegated token (RFC 8693 section 4.1).
	Act any `json:"act,omitempty"`
	// MayAct names who may act for the subject (RFC 8693 section 4.4).
	MayAct *MayAct `json:"may_act,omitempty"`
	// Cnf is the key or certificate a sender-constrained token is bound
	// to (RFC 9449 section 6.2, RFC 8705 section 3.2).
	Cnf *Confirmation `json:"cnf,omitempty"`
	// Extra are the token's further claims (the roles of projects), so a
	// resource server reads them of an opaque token too; never one of the
	// names above.
	Extra map[string]any `json:"-"`
}

// introspectionNames are the JSON names of Introspection's own fields.
var introspectionNames = map[string]bool{"active": true, "scope": true, "client_id": true, "token_type": true, "exp": true, "iat": true,
	"nbf": true, "sub": true, "aud": true, "iss": true, "jti": true, "act": true, "cnf": true}

type plainIntrospection Introspection

// MarshalJSON writes the response with its Extra claims.
func (i Introspection) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(plainIntrospection(i))
	if err != nil {
		return nil, err
	}
	return AddClaims(b, i.Extra, func(k string) bool { return introspectionNames[k] })
}

// AddClaims adds extra members to the JSON object own, leaving out every
// name reserved reports and every name own has.
func AddClaims(own []byte, extra map[string]any, reserved func(string) bool) ([]byte, error) {
	if len(extra) == 0 {
		return own, nil
	}
	all := map[string]any{}
	for k, v := range extra {
		if !reserved(k) {
			all[k] = v
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(own, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		all[k] = v
	}
	return json.Marshal(all)
}

// Metadata is the authorization server metadata (RFC 8414) that is also
// the OpenID Provider metadata (OpenID Connect Discovery 1.0 section 3):
// one document, served at both well-known paths.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint,omitempty"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint,omitempty"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint,omitempty"`
	PushedAuthorizationRequestEndpoint         string   `json:"pushed_authorization_request_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	ClaimsSupported                            []string `json:"claims_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	BackchannelLogoutSupported                 bool     `json:"backchannel_logout_supported,omitempty"`
	BackchannelLogoutSessionSupported          bool     `json:"backchannel_logout_session_supported,omitempty"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	ServiceDocumentation                       string   `json:"service_documentation,omitempty"`
	// DPoPSigningAlgValuesSupported: RFC 9449 section 5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// RFC 8705 sections 3.3 and 5.
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	MTLSEndpointAliases                   map[string]string `json:"mtls_endpoint_aliases,omitempty"`
}

// ValidScopeToken reports whether s is a scope token of RFC 6749 section
// 3.3: one or more of %x21 / %x23-5B / %x5D-7E.
func ValidScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
