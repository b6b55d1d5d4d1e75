package client

import (
	"encoding/json"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// AggregateType is the aggregate of a project and its applications; its
// owner is the project's organization.
const AggregateType = "project"

// ProjectAdded is the first event of a project.
type ProjectAdded struct {
	Name string `json:"name"`
}

// ApplicationAdded adds an application to the project. AccessTokenLifetime
// zero means the token lifetime of the settings in force.
type ApplicationAdded struct {
	AppID               string        `json:"appId"`
	Name                string        `json:"name"`
	ClientID            string        `json:"clientId"`
	Kind                string        `json:"kind"`
	Public              bool          `json:"public"`
	GrantTypes          []string      `json:"grantTypes"`
	AccessTokenType     string        `json:"accessTokenType"`
	AccessTokenLifetime time.Duration `json:"accessTokenLifetime"`
	Scopes              []string      `json:"scopes"`
	Redirects
	AuthMethod string          `json:"authMethod,omitempty"`
	JWKS       json.RawMessage `json:"jwks,omitempty"`
	IDTokenAlg string          `json:"idTokenAlg,omitempty"`
	ThirdParty bool            `json:"thirdParty,omitempty"`
	RoleClaims string          `json:"roleClaims,omitempty"`
	// ResourceURI and ImpersonationAllowed are absent from events written
	// before they existed: no resource URI, no impersonation.
	ResourceURI          string `json:"resourceUri,omitempty"`
	ImpersonationAllowed bool   `json:"impersonationAllowed,omitempty"`
	// TLSClientAuth, Certificates and CertificateBoundTokens (RFC 8705)
	// are absent from events written before they existed.
	TLSClientAuth          *TLSClientAuth `json:"tlsClientAuth,omitempty"`
	Certificates           string         `json:"certificates,omitempty"`
	CertificateBoundTokens bool           `json:"certificateBoundTokens,omitempty"`
}

// ApplicationChanged replaces what an application may do after it was
// created: every field, as it is from now on. Its kind, public or
// confidential type, authentication method, keys, secrets and redirects
// change through their own events.
type ApplicationChanged struct {
	AppID                string        `json:"appId"`
	Name                 string        `json:"name"`
	GrantTypes           []string      `json:"grantTypes"`
	AccessTokenType      string        `json:"accessTokenType"`
	AccessTokenLifetime  time.Duration `json:"accessTokenLifetime"`
	Scopes               []string      `json:"scopes"`
	IDTokenAlg           string        `json:"idTokenAlg"`
	ThirdParty           bool          `json:"thirdParty"`
	RoleClaims           string        `json:"roleClaims"`
	ResourceURI          string        `json:"resourceUri"`
	ImpersonationAllowed bool          `json:"impersonationAllowed"`
	// TLSClientAuth is a tls_client_auth client's registration;
	// CertificateBoundTokens binds its tokens (RFC 8705). Absent from
	// events written before they existed: none, unbound.
	TLSClientAuth          *TLSClientAuth `json:"tlsClientAuth,omitempty"`
	CertificateBoundTokens bool           `json:"certificateBoundTokens,omitempty"`
}

// KeysSet replaces the public keys of a private_key_jwt client, or the
// certificates of a self_signed_tls_client_auth one (JWKS with x5c, or
// Certificates as PEM).
type KeysSet struct {
	AppID        string          `json:"appId"`
	JWKS         json.RawMessage `json:"jwks"`
	Certificates string          `json:"certificates,omitempty"`
}

// RedirectsSet replaces the redirects of an application.
type RedirectsSet struct {
	AppID string `json:"appId"`
	Redirects
}

// SecretAdded adds a client secret, stored as an HMAC-SHA-256 under a key
// derived from the key ring's key KeyID (see Hash).
type SecretAdded struct {
	AppID    string `json:"appId"`
	SecretID string `json:"secretId"`
	KeyID    string `json:"keyId"`
	Hash     []byte `json:"hash"`
}

// SecretExpirySet ends a secret's validity at ExpiresAt: the overlap of a
// rotation.
type SecretExpirySet struct {
	AppID     string    `json:"appId"`
	SecretID  string    `json:"secretId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// SecretRemoved deletes a client secret.
type SecretRemoved struct {
	AppID    string `json:"appId"`
	SecretID string `json:"secretId"`
}

func (ProjectAdded) EventType() string       { return "project.added" }
func (ApplicationAdded) EventType() string   { return "project.application.added" }
func (RedirectsSet) EventType() string       { return "project.application.redirects.set" }
func (ApplicationChanged) EventType() string { return "project.application.changed" }
func (KeysSet) EventType() string            { return "project.application.keys.set" }
func (SecretAdded) EventType() string        { return "project.application.secret.added" }
func (SecretExpirySet) EventType() string    { return "project.application.secret.expiry_set" }
func (SecretRemoved) EventType() string      { return "project.application.secret.removed" }

// RegisterEvents adds the project and application events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[ProjectAdded](r, 1)
	eventstore.Register[ApplicationAdded](r, 1)
	eventstore.Register[RedirectsSet](r, 1)
	eventstore.Register[KeysSet](r, 1)
	eventstore.Register[ApplicationChanged](r, 1)
	eventstore.Register[SecretAdded](r, 1)
	eventstore.Register[SecretExpirySet](r, 1)
	eventstore.Register[SecretRemoved](r, 1)
	eventstore.Register[DPoPSet](r, 1)
	eventstore.Register[FAPISet](r, 1)
	eventstore.Register[CertificateRefused](r, 1)
	eventstore.Register[AuthenticationChanged](r, 1)
	eventstore.Register[MayActSet](r, 1)
}
