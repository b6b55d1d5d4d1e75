package client

import (
	"context"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// The FAPI 2.0 Security Profile (OpenID FAPI 2.0, final) per application.
// An application with FAPI on is held to the profile by the provider
// (package op): its authorization requests must be pushed (PAR) with a
// PKCE S256 challenge, its tokens must be sender-constrained (a DPoP proof,
// or its TLS client certificate when it binds its tokens to it), its
// private_key_jwt assertions must be signed with PS256, ES256 or EdDSA and
// name the issuer alone as their audience. What it is registered with is
// checked here, when FAPI is turned on and at every change while it is
// on: a confidential client (kind oidc) authenticating with
// private_key_jwt, tls_client_auth or self_signed_tls_client_auth, whose
// ID tokens are signed with ES256 or EdDSA (RS256 is not one of the
// profile's algorithms; PS256 is not offered for ID tokens).

// FAPISet turns the FAPI 2.0 Security Profile on or off for an
// application.
type FAPISet struct {
	AppID   string `json:"appId"`
	Enabled bool   `json:"enabled"`
}

func (FAPISet) EventType() string { return "project.application.fapi.set" }

// FAPIAlgorithms are the signing algorithms the profile allows (FAPI 2.0
// Security Profile section 5.4.1).
var FAPIAlgorithms = []jose.SignatureAlgorithm{jose.PS256, jose.ES256, jose.EdDSA}

// fapiAuthMethods are the client authentication methods the profile
// allows (section 5.3.2.1): private_key_jwt and mutual TLS.
var fapiAuthMethods = []string{oauth.AuthPrivateKeyJWT, oauth.AuthTLSClientAuth, oauth.AuthSelfSignedTLSClientAuth}

// checkFAPI says why the profile does not allow an application
// configuration, naming what to change; "" when it does.
func checkFAPI(spec ApplicationSpec) string {
	switch {
	case spec.Kind != KindOIDC:
		return "FAPI 2.0 applies to client applications (kind oidc), not to an API application"
	case spec.Public:
		return "FAPI 2.0 allows confidential clients only; this application is public"
	case !slices.Contains(fapiAuthMethods, spec.AuthMethod):
		return "FAPI 2.0 allows the client authentication methods private_key_jwt, tls_client_auth and self_signed_tls_client_auth only; this application authenticates with " +
			publicMethodName(spec.AuthMethod)
	case spec.IDTokenAlg != "ES256" && spec.IDTokenAlg != "EdDSA":
		return "FAPI 2.0 allows PS256, ES256 and EdDSA signatures only; the application's idTokenAlg must be ES256 or EdDSA, not " + spec.IDTokenAlg
	}
	return ""
}

// publicMethodName is how an authentication method is shown: a secret is
// client_secret_basic or client_secret_post.
func publicMethodName(method string) string {
	if method == oauth.AuthClientSecretBasic {
		return "a client secret (client_secret_basic/client_secret_post)"
	}
	return method
}

// specOf is the specification an application was made with, as
// UpdateApplication starts from; it carries FAPI, so that checkSpec
// refuses any change that leaves the profile while it is on.
func specOf(app Application) ApplicationSpec {
	return ApplicationSpec{Name: app.Name, Kind: app.Kind, Public: app.Public, GrantTypes: app.GrantTypes, AccessTokenType: app.AccessTokenType,
		AccessTokenLifetime: app.AccessTokenLifetime, Scopes: app.Scopes, Redirects: app.Redirects, AuthMethod: app.AuthMethod,
		IDTokenAlg: app.IDTokenAlg, ThirdParty: app.ThirdParty, RoleClaims: app.RoleClaims, ResourceURI: app.ResourceURI,
		ImpersonationAllowed: app.ImpersonationAllowed, TLSClientAuth: app.TLSClientAuth, Certificates: app.Certificates,
		CertificateBoundTokens: app.CertificateBoundTokens, FAPI: app.FAPI}
}

// SetFAPI turns the FAPI 2.0 Security Profile on or off for an
// application. Turning it on is refused (failure.FailedPrecondition,
// naming what to change) for an application the profile does not allow.
// Tokens already issued keep what they were issued with; authorizations
// and token requests follow within CacheTTL.
func (c *Commands) SetFAPI(ctx context.Context, editor eventstore.Editor, instanceID, appID string, enabled bool) (Application, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Application{}, err
	}
	if enabled {
		if why := checkFAPI(specOf(app)); why != "" {
			return Application{}, failure.FailedPrecondition("%s", why)
		}
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: []eventstore.Payload{&FAPISet{AppID: app.ID, Enabled: enabled}}})
	if err != nil {
		return Application{}, err
	}
	app.FAPI = enabled
	return app, nil
}

func reduceFAPI(ctx context.Context, tx *database.Tx, instanceID string, p *FAPISet) error {
	_, err := tx.ExecContext(ctx, `UPDATE applications SET fapi = $1 WHERE instance_id = $2 AND app_id = $3`, p.Enabled, instanceID, p.AppID)
	return err
}

// fapiAssertion refuses a private_key_jwt assertion of a FAPI application
// that the profile does not allow: another algorithm than PS256, ES256 or
// EdDSA, or an aud other than the issuer alone (section 5.3.2.1: the
// issuer identifier as the sole audience). issuer is the first of the
// endpoint's audiences.
func fapiAssertion(alg string, aud []string, audiences []string) string {
	if !slices.Contains(FAPIAlgorithms, jose.SignatureAlgorithm(alg)) {
		return "FAPI 2.0: the assertion is signed with " + alg + "; only PS256, ES256 and EdDSA are accepted"
	}
	if len(audiences) == 0 || len(aud) != 1 || aud[0] != audiences[0] {
		return "FAPI 2.0: the assertion's aud must be the issuer identifier alone"
	}
	return ""
}
