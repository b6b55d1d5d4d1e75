package client

import (
	"crypto/x509"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth"
)

// Application kinds.
const (
	// KindOIDC is a client that obtains tokens: a web, native or
	// machine application.
	KindOIDC = "oidc"
	// KindAPI is a resource server: it only introspects tokens.
	KindAPI = "api"
)

// Role claim formats: how tokens carry the user's roles of projects
// (package project).
const (
	// RoleClaimsNested is urn:castellan:project:roles, an object from
	// each role key to the organizations whose authorization gives it,
	// each with its primary domain.
	RoleClaimsNested = "nested"
	// RoleClaimsFlat is roles, a list of role keys (RFC 9068 section
	// 2.2.3.1).
	RoleClaimsFlat = "flat"
)

// Access token types.
const (
	TokenJWT    = "jwt"
	TokenOpaque = "opaque"
)

// GrantTypes are the grant types an application may register.
var GrantTypes = []string{oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantJWTBearer, oauth.GrantDeviceCode,
	oauth.GrantTokenExchange}

// Project is a bundle of applications of one organization.
type Project struct {
	ID        string
	OrgID     string
	Name      string
	CreatedAt time.Time
}

// Application is an OAuth client or resource server of a project.
type Application struct {
	ID        string
	ProjectID string
	OrgID     string
	Name      string
	ClientID  string
	Kind      string
	// Public clients have no secret (RFC 6749 section 2.1).
	Public     bool
	GrantTypes []string
	// AccessTokenType is TokenJWT or TokenOpaque.
	AccessTokenType string
	// AccessTokenLifetime is zero for the lifetime of the settings in
	// force.
	AccessTokenLifetime time.Duration
	// Scopes are the scopes the client may be granted.
	Scopes []string
	Redirects
	// AuthMethod is how the client authenticates: oauth.AuthNone (a
	// public client), oauth.AuthPrivateKeyJWT (with a key of JWKS), or
	// oauth.AuthClientSecretBasic, which stands for a secret sent either
	// way (basic or post).
	AuthMethod string
	// JWKS are the public keys of a private_key_jwt client, or the
	// certificates (x5c) of a self_signed_tls_client_auth one.
	JWKS jose.JSONWebKeySet
	// TLSClientAuth is what a tls_client_auth client's certificate must
	// carry; nil for other methods (certificate.go).
	TLSClientAuth *TLSClientAuth
	// Certificates are the PEM certificates of a
	// self_signed_tls_client_auth client that registered no JWKS.
	Certificates string
	// CertificateBoundTokens binds its access tokens, and a public
	// client's refresh tokens, to the TLS client certificate of the token
	// request (RFC 8705 section 3; tls_client_certificate_bound_access_tokens).
	CertificateBoundTokens bool
	// IDTokenAlg signs its ID tokens and logout tokens: RS256 (the
	// default, which every client supports), ES256 or EdDSA.
	IDTokenAlg string
	// ThirdParty: the hosted login asks the user's consent before it
	// gets what it asks for (package consent); a first-party application
	// (false) does not ask.
	ThirdParty bool
	// RoleClaims is how tokens carry the user's roles of projects:
	// RoleClaimsNested (the default) or RoleClaimsFlat.
	RoleClaims string
	// ResourceURI names an API application as a resource server (RFC
	// 8707); "" when it cannot be named.
	ResourceURI string
	// ImpersonationAllowed lets a client of the token exchange grant
	// exchange a token without an actor token (RFC 8693 impersonation).
	ImpersonationAllowed bool
	// DPoP: whether its tokens must be DPoP-bound, and its proofs carry
	// a server nonce (dpop.go).
	DPoP DPoP
	// FAPI holds the application to the FAPI 2.0 Security Profile
	// (fapi.go).
	FAPI bool
	// MayAct is the may_act claim of the access tokens issued to it (RFC
	// 8693 section 4.4, mayact.go); nil for none.
	MayAct    *oauth.MayAct
	Secrets   []Secret
	CreatedAt time.Time
}

// Allows reports whether the application registered grantType.
func (a Application) Allows(grantType string) bool { return slices.Contains(a.GrantTypes, grantType) }

// Secret is what is known of a client secret once it was shown: never the
// secret itself.
type Secret struct {
	ID        string
	CreatedAt time.Time
	// ExpiresAt is zero for a secret without end; a rotation sets it.
	ExpiresAt time.Time
	keyID     string
	hash      []byte
}

// ValidAt reports whether the secret may be used at t.
func (s Secret) ValidAt(t time.Time) bool { return s.ExpiresAt.IsZero() || t.Before(s.ExpiresAt) }

// ApplicationSpec is what a new application is made of.
type ApplicationSpec struct {
	Name                string
	Kind                string
	Public              bool
	GrantTypes          []string
	AccessTokenType     string
	AccessTokenLifetime time.Duration
	Scopes              []string
	Redirects
	// AuthMethod: "" chooses none for a public client and a secret for
	// a confidential one; oauth.AuthPrivateKeyJWT needs JWKS.
	AuthMethod string
	JWKS       []byte
	// TLSClientAuth: for tls_client_auth; Certificates (PEM) or JWKS (with
	// x5c): for self_signed_tls_client_auth.
	TLSClientAuth          *TLSClientAuth
	Certificates           string
	CertificateBoundTokens bool
	// IDTokenAlg: "" for RS256.
	IDTokenAlg string
	ThirdParty bool
	// RoleClaims: "" for RoleClaimsNested.
	RoleClaims string
	// ResourceURI: an API application's resource identifier (RFC 8707).
	ResourceURI string
	// ImpersonationAllowed: a token exchange client may impersonate.
	ImpersonationAllowed bool
	// FAPI: the application follows FAPI 2.0 (fapi.go), so the spec must
	// stay within the profile; set from the application by the commands
	// that change one (specOf), never by a request.
	FAPI bool
}

// Redirects are how an application's authorizations begin and where they
// and its logouts may return: its redirect URIs, development mode, and
// whether its authorization requests must be pushed first (PAR, RFC 9126).
//
// It is stored as it is, in the events and in the applications table.
type Redirects struct {
	// RedirectURIs are where an authorization may return (redirect.go);
	// PostLogoutRedirectURIs where a logout may.
	RedirectURIs           []string `json:"redirectUris,omitempty"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris,omitempty"`
	// DevMode lets http redirect URIs name any host, and loopback ones
	// match with any port.
	DevMode bool `json:"devMode,omitempty"`
	// RequirePushed refuses authorization requests that were not pushed
	// (RFC 9126 section 5).
	RequirePushed bool `json:"requirePushed,omitempty"`
	// BackchannelLogoutURI receives logout tokens when a session of the
	// application's users ends (OIDC Back-Channel Logout 1.0); "" for
	// none.
	BackchannelLogoutURI string `json:"backchannelLogoutUri,omitempty"`
}

// Credentials are what a client presented at an endpoint.
type Credentials struct {
	ClientID string
	// Secret is empty for a client that presented none.
	Secret string
	// Method is how the client authenticated: oauth.AuthClientSecretBasic,
	// oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT or
	// oauth.AuthNone.
	Method string
	// Assertion is the client_assertion of private_key_jwt; Audiences are
	// what its aud may name (the issuer, the endpoint's URL).
	Assertion string
	Audiences []string
	// Chain is the TLS client certificate the request came with (the
	// client's first, then what it sent to chain it), verified by nobody
	// yet; nil for none.
	Chain []*x509.Certificate
}

// Authenticated is an application whose client authentication succeeded;
// only Clients.Authenticate makes one, so an endpoint that takes one
// cannot forget to authenticate the client.
type Authenticated struct {
	app    Application
	method string
	// cert: the certificate it authenticated with (RFC 8705 methods).
	cert *x509.Certificate
}

// Certificate is the TLS client certificate the client authenticated
// with, or nil when it authenticated otherwise.
func (a Authenticated) Certificate() *x509.Certificate { return a.cert }

// Application is the authenticated client.
func (a Authenticated) Application() Application { return a.app }

// Method is how it authenticated.
func (a Authenticated) Method() string { return a.method }
