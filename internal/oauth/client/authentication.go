package client

import (
	"context"
	"encoding/json"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// AuthenticationChange is a client's new type and authentication method,
// with what the method needs: JWKS for private_key_jwt, TLSClientAuth for
// tls_client_auth, Certificates or JWKS (x5c) for
// self_signed_tls_client_auth.
type AuthenticationChange struct {
	Public        bool
	AuthMethod    string
	JWKS          []byte
	Certificates  string
	TLSClientAuth *TLSClientAuth
	// BeforeTypeChange, when set, runs after the change was checked and
	// before it is written, if the client changes between public and
	// confidential: it ends the client's grants, so that a refused change
	// ends nothing and a failure to end them changes nothing.
	BeforeTypeChange func(context.Context) error
}

// AuthenticationChanged replaces a client's type and authentication
// method, with its keys or certificate registration (empty for methods
// without). The secrets it gains or loses are SecretAdded and
// SecretRemoved events of the same append.
type AuthenticationChanged struct {
	AppID         string          `json:"appId"`
	Public        bool            `json:"public"`
	AuthMethod    string          `json:"authMethod"`
	JWKS          json.RawMessage `json:"jwks,omitempty"`
	TLSClientAuth *TLSClientAuth  `json:"tlsClientAuth,omitempty"`
	Certificates  string          `json:"certificates,omitempty"`
}

func (AuthenticationChanged) EventType() string { return "project.application.authentication.changed" }

// AuthenticationResult is what ChangeAuthentication did.
type AuthenticationResult struct {
	Application Application
	// Secret is the new client secret, shown once; "" when the client
	// does not authenticate with a secret, or kept the one it had.
	Secret string
	// TypeChanged: the client went from public to confidential or back;
	// the caller ends its grants (their refresh tokens were issued to a
	// client of the other type).
	TypeChanged bool
}

// usesSecret reports whether a client of method authenticates with a
// client secret.
func usesSecret(public bool, method string) bool {
	return !public && (method == oauth.AuthClientSecretBasic || method == oauth.AuthClientSecretPost)
}

// checkAuthenticationTransition decides whether a client may go from its
// present authentication (from) to spec, which checkSpec has not seen
// yet. It is the one place for rules about transitions — a profile that
// allows only some methods adds its refusal here. Rules about the target
// alone are checkSpec's.
func checkAuthenticationTransition(from Application, to ApplicationSpec) error {
	if from.Kind != KindOIDC {
		return failure.FailedPrecondition("application %s is an API application: it authenticates with a secret to introspect, and has no other method", from.ID)
	}
	method := to.AuthMethod
	if method == oauth.AuthClientSecretPost {
		method = oauth.AuthClientSecretBasic // one stored method: a secret, sent either way
	}
	if from.Public == to.Public && from.AuthMethod == method {
		hint := ""
		switch method {
		case oauth.AuthClientSecretBasic:
			hint = " (a secret is accepted by Basic and in the form alike; AddClientSecret rotates it)"
		case oauth.AuthPrivateKeyJWT, oauth.AuthSelfSignedTLSClientAuth:
			hint = " (SetApplicationKeys replaces its keys or certificates)"
		case oauth.AuthTLSClientAuth:
			hint = " (UpdateApplication changes tlsClientAuth)"
		}
		return failure.FailedPrecondition("application %s already is a %s client authenticating with %s%s", from.ID, clientType(from.Public), from.AuthMethod, hint)
	}
	return nil
}

// ChangeAuthentication changes a client's type (public or confidential)
// and authentication method, with the consequences: a client that now
// authenticates with a secret and did not gets a new one (returned once);
// one that no longer does loses all its secrets; private_key_jwt needs
// its keys. The rules of a new application hold for the result (a public
// client uses PKCE and may not have client_credentials; its redirect URIs
// may be native ones). Tokens issued stay valid until they expire; the
// caller ends the client's grants when TypeChanged.
func (c *Commands) ChangeAuthentication(ctx context.Context, editor eventstore.Editor, instanceID, appID string, ch AuthenticationChange) (AuthenticationResult, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return AuthenticationResult{}, err
	}
	switch {
	case ch.AuthMethod == "":
		return AuthenticationResult{}, failure.InvalidArgument("authMethod", "is required: none, client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or self_signed_tls_client_auth")
	case ch.AuthMethod == oauth.AuthPrivateKeyJWT && len(ch.JWKS) == 0:
		return AuthenticationResult{}, failure.InvalidArgument("jwks", "a private_key_jwt client needs its public keys (a JWK Set) registered with the change")
	case ch.Public && ch.AuthMethod != oauth.AuthNone:
		return AuthenticationResult{}, failure.InvalidArgument("authMethod", "a public client authenticates with none")
	case !ch.Public && ch.AuthMethod == oauth.AuthNone:
		return AuthenticationResult{}, failure.InvalidArgument("authMethod", "none is the method of public clients; set public")
	}
	// The application's specification with the new authentication: it
	// carries FAPI, so checkSpec refuses leaving the profile while it is on.
	spec := specOf(app)
	spec.Public, spec.AuthMethod, spec.JWKS = ch.Public, ch.AuthMethod, ch.JWKS
	spec.TLSClientAuth, spec.Certificates = ch.TLSClientAuth, ch.Certificates
	if err := checkAuthenticationTransition(app, spec); err != nil {
		return AuthenticationResult{}, err
	}
	if spec, err = checkSpec(spec); err != nil {
		return AuthenticationResult{}, err
	}
	if app.Public != spec.Public && ch.BeforeTypeChange != nil {
		if err := ch.BeforeTypeChange(ctx); err != nil {
			return AuthenticationResult{}, err
		}
	}
	changed := &AuthenticationChanged{AppID: app.ID, Public: spec.Public, AuthMethod: spec.AuthMethod, JWKS: spec.JWKS,
		TLSClientAuth: spec.TLSClientAuth, Certificates: spec.Certificates}
	events := []eventstore.Payload{changed}
	res := AuthenticationResult{TypeChanged: app.Public != spec.Public}
	next := app
	next.Public, next.AuthMethod, next.TLSClientAuth, next.Certificates = spec.Public, spec.AuthMethod, spec.TLSClientAuth, spec.Certificates
	next.JWKS = jose.JSONWebKeySet{}
	if len(spec.JWKS) > 0 {
		next.JWKS, _ = checkJWKS(spec.JWKS)
	}
	var added *SecretAdded
	switch {
	case usesSecret(spec.Public, spec.AuthMethod) && !usesSecret(app.Public, app.AuthMethod):
		if added, res.Secret, err = c.newSecret(instanceID, next); err != nil {
			return AuthenticationResult{}, err
		}
		events = append(events, added)
		next.Secrets = []Secret{{ID: added.SecretID}}
	case !usesSecret(spec.Public, spec.AuthMethod):
		for _, s := range app.Secrets {
			events = append(events, &SecretRemoved{AppID: app.ID, SecretID: s.ID})
		}
		next.Secrets = nil
	}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq, Events: events})
	if err != nil {
		return AuthenticationResult{}, err
	}
	if added != nil {
		next.Secrets[0].CreatedAt = stored[len(stored)-1].CreatedAt.UTC().Truncate(time.Second)
	}
	res.Application = next
	return res, nil
}
