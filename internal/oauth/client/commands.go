package client

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/org"
)

// Limits of what an application registers.
const (
	maxName = 200
	// MinTokenLifetime and MaxTokenLifetime bound an application's own
	// access token lifetime.
	MinTokenLifetime = time.Minute
	MaxTokenLifetime = 24 * time.Hour
	// MaxSecretOverlap bounds how long the previous secrets stay valid
	// after a rotation.
	MaxSecretOverlap = 30 * 24 * time.Hour
	maxScopes        = 50
	// maxValidSecrets is how many secrets may be valid at once: the
	// current one and the one it replaces, during the overlap.
	maxValidSecrets = 2
	uniqueClientID  = "oauth_client_id"
	uniqueProject   = "project_name"
	// uniqueResource claims an API application's resource URI in the
	// instance, so that a resource names one resource server.
	uniqueResource = "oauth_resource_uri"
)

// Commands create and change projects and applications. Whether the caller
// may is decided before.
type Commands struct {
	store  *eventstore.Store
	hasher *hasher
	now    func() time.Time
}

// NewCommands returns the commands; ring derives the key secrets are
// hashed under; now may be nil (time.Now).
func NewCommands(store *eventstore.Store, ring KeyDeriver, now func() time.Time) *Commands {
	if now == nil {
		now = time.Now
	}
	return &Commands{store: store, hasher: newHasher(ring), now: now}
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxName || !utf8.ValidString(name) {
		return "", failure.InvalidArgument("name", "must be 1 to %d characters", maxName)
	}
	return name, nil
}

// CreateProject adds a project to an active organization. A name is
// unique within the organization (case-insensitively).
func (c *Commands) CreateProject(ctx context.Context, editor eventstore.Editor, instanceID, orgID, name string) (Project, error) {
	name, err := checkName(name)
	if err != nil {
		return Project{}, err
	}
	if err := org.RequireActive(ctx, c.store.DB(), instanceID, orgID); err != nil {
		return Project{}, err
	}
	p := Project{ID: id.New(), OrgID: orgID, Name: name}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: p.ID, Owner: orgID},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&ProjectAdded{Name: name}},
		Unique:           []eventstore.Unique{{Kind: uniqueProject, Scope: orgID, Value: name, Field: "name", FoldCase: true}},
	})
	if err != nil {
		return Project{}, err
	}
	p.CreatedAt = stored[0].CreatedAt.UTC().Truncate(time.Second)
	return p, nil
}

func checkSpec(spec ApplicationSpec) (ApplicationSpec, error) {
	var err error
	if spec.Name, err = checkName(spec.Name); err != nil {
		return spec, err
	}
	switch spec.Kind {
	case "":
		spec.Kind = KindOIDC
	case KindOIDC, KindAPI:
	default:
		return spec, failure.InvalidArgument("kind", "must be %s or %s", KindOIDC, KindAPI)
	}
	if spec.Kind == KindAPI {
		if spec.Public {
			return spec, failure.InvalidArgument("public", "an API application authenticates to introspect, so it cannot be public")
		}
		if len(spec.GrantTypes) > 0 {
			return spec, failure.InvalidArgument("grantTypes", "an API application obtains no tokens")
		}
	}
	seen := map[string]bool{}
	for _, g := range spec.GrantTypes {
		if !slices.Contains(GrantTypes, g) {
			return spec, failure.InvalidArgument("grantTypes", "%.80q is not a grant type; want some of %v", g, GrantTypes)
		}
		if seen[g] {
			return spec, failure.InvalidArgument("grantTypes", "%s is listed twice", g)
		}
		seen[g] = true
	}
	if spec.Public && seen[oauth.GrantClientCredentials] {
		return spec, failure.InvalidArgument("grantTypes", "a public client cannot use client_credentials (RFC 6749 section 4.4)")
	}
	switch spec.RoleClaims {
	case "":
		spec.RoleClaims = RoleClaimsNested
	case RoleClaimsNested, RoleClaimsFlat:
	default:
		return spec, failure.InvalidArgument("roleClaims", "must be %s or %s", RoleClaimsNested, RoleClaimsFlat)
	}
	switch spec.AccessTokenType {
	case "":
		spec.AccessTokenType = TokenJWT
	case TokenJWT:
	case TokenOpaque:
	default:
		return spec, failure.InvalidArgument("accessTokenType", "must be %s or %s", TokenJWT, TokenOpaque)
	}
	if l := spec.AccessTokenLifetime; l != 0 && (l < MinTokenLifetime || l > MaxTokenLifetime || l%time.Second != 0) {
		return spec, failure.InvalidArgument("accessTokenLifetime", "must be whole seconds from %s to %s, or unset for the settings' lifetime", MinTokenLifetime, MaxTokenLifetime)
	}
	if len(spec.Scopes) > maxScopes {
		return spec, failure.InvalidArgument("scopes", "at most %d", maxScopes)
	}
	for _, s := range spec.Scopes {
		if !oauth.ValidScopeToken(s) || len(s) > 200 {
			return spec, failure.InvalidArgument("scopes", "%.80q is not a scope token (RFC 6749 section 3.3)", s)
		}
	}
	spec.Scopes = slices.Compact(slices.Sorted(slices.Values(spec.Scopes)))
	switch spec.AuthMethod {
	case "":
		spec.AuthMethod = authMethod(spec.Public, "")
	case oauth.AuthNone:
		if !spec.Public {
			return spec, failure.InvalidArgument("authMethod", "none is the method of public clients")
		}
	case oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost:
		spec.AuthMethod = oauth.AuthClientSecretBasic // a secret, sent either way
	case oauth.AuthPrivateKeyJWT:
		if spec.Public {
			return spec, failure.InvalidArgument("authMethod", "a public client does not authenticate")
		}
		if _, err := checkJWKS(spec.JWKS); err != nil {
			return spec, err
		}
	case oauth.AuthTLSClientAuth, oauth.AuthSelfSignedTLSClientAuth:
		if spec.Public {
			return spec, failure.InvalidArgument("authMethod", "a public client does not authenticate")
		}
	default:
		return spec, failure.InvalidArgument("authMethod", "must be none, client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth or self_signed_tls_client_auth")
	}
	if err := checkCertificateAuth(spec); err != nil {
		return spec, err
	}
	if spec.CertificateBoundTokens && spec.Kind == KindAPI {
		return spec, failure.InvalidArgument("certificateBoundTokens", "an API application obtains no tokens")
	}
	if spec.Public && spec.AuthMethod != oauth.AuthNone {
		return spec, failure.InvalidArgument("authMethod", "a public client authenticates with none")
	}
	switch spec.IDTokenAlg {
	case "":
		spec.IDTokenAlg = "RS256"
	case "RS256", "ES256", "EdDSA":
		if spec.Kind == KindAPI {
			return spec, failure.InvalidArgument("idTokenAlg", "an API application obtains no ID tokens")
		}
	default:
		return spec, failure.InvalidArgument("idTokenAlg", "must be RS256, ES256 or EdDSA")
	}
	if spec.AuthMethod != oauth.AuthPrivateKeyJWT && spec.AuthMethod != oauth.AuthSelfSignedTLSClientAuth && len(spec.JWKS) > 0 {
		return spec, failure.InvalidArgument("jwks", "keys are for private_key_jwt and self_signed_tls_client_auth clients")
	}
	if spec.ResourceURI != "" {
		if spec.Kind != KindAPI {
			return spec, failure.InvalidArgument("resourceUri", "only an API application is a resource server")
		}
		if err := CheckResourceURI(spec.ResourceURI); err != nil {
			return spec, failure.InvalidArgument("resourceUri", "%.200q %v", spec.ResourceURI, err)
		}
	}
	if spec.ImpersonationAllowed && !slices.Contains(spec.GrantTypes, oauth.GrantTokenExchange) {
		return spec, failure.InvalidArgument("impersonationAllowed", "needs the grant type %s", oauth.GrantTokenExchange)
	}
	if spec.Redirects, err = checkRedirects(spec.Redirects, spec.Kind, spec.Public, slices.Contains(spec.GrantTypes, oauth.GrantAuthorizationCode)); err != nil {
		return spec, err
	}
	if spec.FAPI {
		// While FAPI is on, no change may leave the profile.
		if why := checkFAPI(spec); why != "" {
			return spec, failure.FailedPrecondition("the application follows FAPI 2.0 (turn FAPI off first to change this): %s", why)
		}
	}
	return spec, nil
}

// checkRedirects validates what an application registers to return to:
// a client of the authorization code grant needs a redirect URI, and an
// API application has none.
func checkRedirects(r Redirects, kind string, public, code bool) (Redirects, error) {
	var err error
	if kind == KindAPI && (len(r.RedirectURIs) > 0 || len(r.PostLogoutRedirectURIs) > 0 || r.DevMode || r.RequirePushed || r.BackchannelLogoutURI != "") {
		return r, failure.InvalidArgument("redirectUris", "an API application has no redirect URIs")
	}
	if r.RedirectURIs, err = checkRedirectURIs("redirectUris", r.RedirectURIs, public, r.DevMode); err != nil {
		return r, err
	}
	if r.PostLogoutRedirectURIs, err = checkRedirectURIs("postLogoutRedirectUris", r.PostLogoutRedirectURIs, public, r.DevMode); err != nil {
		return r, err
	}
	if r.BackchannelLogoutURI != "" {
		// A server-to-server URI: https, or http on loopback (or any
		// host in development mode); never a private-use scheme.
		if err := checkRedirectURI(r.BackchannelLogoutURI, false, r.DevMode); err != nil {
			return r, failure.InvalidArgument("backchannelLogoutUri", "%.200q %v", r.BackchannelLogoutURI, err)
		}
	}
	if code && len(r.RedirectURIs) == 0 {
		return r, failure.InvalidArgument("redirectUris", "a client of the authorization_code grant needs at least one redirect URI")
	}
	return r, nil
}

// SetKeys replaces the public keys of a private_key_jwt client (a JWK
// Set): how it rotates them, registering the next key before signing
// with it.
func (c *Commands) SetKeys(ctx context.Context, editor eventstore.Editor, instanceID, appID string, jwks []byte) (Application, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Application{}, err
	}
	return c.setKeys(ctx, editor, instanceID, app, p, seq, jwks, "")
}

// SetCertificates replaces the certificates of a
// self_signed_tls_client_auth client, as PEM (certificates) or as a JWK
// Set with x5c (jwks); one of the two. The next one is registered beside
// the current one before the client switches.
func (c *Commands) SetCertificates(ctx context.Context, editor eventstore.Editor, instanceID, appID string, jwks []byte, certificates string) (Application, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Application{}, err
	}
	return c.setKeys(ctx, editor, instanceID, app, p, seq, jwks, certificates)
}

func (c *Commands) setKeys(ctx context.Context, editor eventstore.Editor, instanceID string, app Application, p Project, seq int64, jwks []byte, certificates string) (Application, error) {
	var set jose.JSONWebKeySet
	var err error
	switch app.AuthMethod {
	case oauth.AuthPrivateKeyJWT:
		if certificates != "" {
			return Application{}, failure.InvalidArgument("certificates", "are for self_signed_tls_client_auth clients")
		}
		if set, err = checkJWKS(jwks); err != nil {
			return Application{}, err
		}
	case oauth.AuthSelfSignedTLSClientAuth:
		if err := checkCertificateAuth(ApplicationSpec{AuthMethod: app.AuthMethod, JWKS: jwks, Certificates: certificates}); err != nil {
			return Application{}, err
		}
		if len(jwks) > 0 {
			set, _ = checkJWKS(jwks)
		}
	default:
		return Application{}, failure.FailedPrecondition("application %s does not authenticate with private_key_jwt or self_signed_tls_client_auth", app.ID)
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: []eventstore.Payload{&KeysSet{AppID: app.ID, JWKS: jwks, Certificates: certificates}}})
	if err != nil {
		return Application{}, err
	}
	app.JWKS, app.Certificates = set, certificates
	return app, nil
}

// ApplicationUpdate is a change of what an application may do; a nil
// field keeps its value.
type ApplicationUpdate struct {
	Name                 *string
	GrantTypes           []string
	SetGrantTypes        bool
	AccessTokenType      *string
	AccessTokenLifetime  *time.Duration
	Scopes               []string
	SetScopes            bool
	IDTokenAlg           *string
	ThirdParty           *bool
	RoleClaims           *string
	ResourceURI          *string
	ImpersonationAllowed *bool
	// TLSClientAuth replaces a tls_client_auth client's trust set and
	// subject.
	TLSClientAuth          *TLSClientAuth
	CertificateBoundTokens *bool
}

// UpdateApplication changes what an application may do — its name, grant
// types, access token format and lifetime, scopes, ID token algorithm,
// consent, role claims, resource URI and impersonation — under the rules
// of a new application. Tokens already issued keep what they were issued
// with; the next grant follows the change (within CacheTTL on every
// replica). A client of the authorization code grant must already have its
// redirect URIs.
func (c *Commands) UpdateApplication(ctx context.Context, editor eventstore.Editor, instanceID, appID string, u ApplicationUpdate) (Application, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Application{}, err
	}
	spec := specOf(app)
	if app.AuthMethod == oauth.AuthPrivateKeyJWT || app.AuthMethod == oauth.AuthSelfSignedTLSClientAuth && app.Certificates == "" {
		if spec.JWKS, err = json.Marshal(app.JWKS); err != nil {
			return Application{}, err
		}
	}
	if u.Name != nil {
		spec.Name = *u.Name
	}
	if u.SetGrantTypes {
		spec.GrantTypes = u.GrantTypes
	}
	if u.AccessTokenType != nil {
		spec.AccessTokenType = *u.AccessTokenType
	}
	if u.AccessTokenLifetime != nil {
		spec.AccessTokenLifetime = *u.AccessTokenLifetime
	}
	if u.SetScopes {
		spec.Scopes = u.Scopes
	}
	if u.IDTokenAlg != nil {
		spec.IDTokenAlg = *u.IDTokenAlg
	} else if app.Kind == KindAPI {
		spec.IDTokenAlg = "" // an API application has none; its default is stored
	}
	if u.ThirdParty != nil {
		spec.ThirdParty = *u.ThirdParty
	}
	if u.RoleClaims != nil {
		spec.RoleClaims = *u.RoleClaims
	}
	if u.ResourceURI != nil {
		spec.ResourceURI = *u.ResourceURI
	}
	if u.ImpersonationAllowed != nil {
		spec.ImpersonationAllowed = *u.ImpersonationAllowed
	}
	if u.TLSClientAuth != nil {
		spec.TLSClientAuth = u.TLSClientAuth
	}
	if u.CertificateBoundTokens != nil {
		spec.CertificateBoundTokens = *u.CertificateBoundTokens
	}
	if spec, err = checkSpec(spec); err != nil {
		return Application{}, err
	}
	var unique []eventstore.Unique
	if spec.ResourceURI != app.ResourceURI {
		if app.ResourceURI != "" {
			unique = append(unique, eventstore.Unique{Kind: uniqueResource, Value: app.ResourceURI, Remove: true})
		}
		if spec.ResourceURI != "" {
			unique = append(unique, eventstore.Unique{Kind: uniqueResource, Value: spec.ResourceURI, Field: "resourceUri"})
		}
	}
	changed := &ApplicationChanged{AppID: app.ID, Name: spec.Name, GrantTypes: spec.GrantTypes, AccessTokenType: spec.AccessTokenType,
		AccessTokenLifetime: spec.AccessTokenLifetime, Scopes: spec.Scopes, IDTokenAlg: spec.IDTokenAlg, ThirdParty: spec.ThirdParty,
		RoleClaims: spec.RoleClaims, ResourceURI: spec.ResourceURI, ImpersonationAllowed: spec.ImpersonationAllowed,
		TLSClientAuth: spec.TLSClientAuth, CertificateBoundTokens: spec.CertificateBoundTokens}
	if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: []eventstore.Payload{changed}, Unique: unique}); err != nil {
		return Application{}, err
	}
	app.Name, app.GrantTypes, app.AccessTokenType, app.AccessTokenLifetime, app.Scopes = spec.Name, spec.GrantTypes, spec.AccessTokenType, spec.AccessTokenLifetime, spec.Scopes
	app.IDTokenAlg, app.ThirdParty, app.RoleClaims, app.ResourceURI, app.ImpersonationAllowed = spec.IDTokenAlg, spec.ThirdParty, spec.RoleClaims, spec.ResourceURI, spec.ImpersonationAllowed
	app.TLSClientAuth, app.CertificateBoundTokens = spec.TLSClientAuth, spec.CertificateBoundTokens
	return app, nil
}

// SetRedirects replaces an application's redirect URIs, post-logout
// redirect URIs and development mode; authorizations already started keep
// the redirect URI they were checked with.
func (c *Commands) SetRedirects(ctx context.Context, editor eventstore.Editor, instanceID, appID string, r Redirects) (Application, error) {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Application{}, err
	}
	if r, err = checkRedirects(r, app.Kind, app.Public, app.Allows(oauth.GrantAuthorizationCode)); err != nil {
		return Application{}, err
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: []eventstore.Payload{&RedirectsSet{AppID: app.ID, Redirects: r}}})
	if err != nil {
		return Application{}, err
	}
	app.Redirects = r
	return app, nil
}

// CreateApplication adds an application to a project. A confidential
// application gets its first client secret, returned once (the second
// result); a public one gets none.
func (c *Commands) CreateApplication(ctx context.Context, editor eventstore.Editor, instanceID, projectID string, spec ApplicationSpec) (Application, string, error) {
	spec, err := checkSpec(spec)
	if err != nil {
		return Application{}, "", err
	}
	p, seq, err := getProject(ctx, c.store.DB(), instanceID, projectID)
	if err != nil {
		return Application{}, "", err
	}
	app := Application{
		ID: id.New(), ProjectID: p.ID, OrgID: p.OrgID, Name: spec.Name, ClientID: id.New(), Kind: spec.Kind, Public: spec.Public,
		GrantTypes: spec.GrantTypes, AccessTokenType: spec.AccessTokenType, AccessTokenLifetime: spec.AccessTokenLifetime, Scopes: spec.Scopes,
		Redirects: spec.Redirects, AuthMethod: spec.AuthMethod, IDTokenAlg: spec.IDTokenAlg, ThirdParty: spec.ThirdParty, RoleClaims: spec.RoleClaims,
		ResourceURI: spec.ResourceURI, ImpersonationAllowed: spec.ImpersonationAllowed,
		TLSClientAuth: spec.TLSClientAuth, Certificates: spec.Certificates, CertificateBoundTokens: spec.CertificateBoundTokens,
	}
	if len(spec.JWKS) > 0 {
		app.JWKS, _ = checkJWKS(spec.JWKS)
	}
	events := []eventstore.Payload{&ApplicationAdded{
		AppID: app.ID, Name: app.Name, ClientID: app.ClientID, Kind: app.Kind, Public: app.Public, GrantTypes: app.GrantTypes,
		AccessTokenType: app.AccessTokenType, AccessTokenLifetime: app.AccessTokenLifetime, Scopes: app.Scopes,
		Redirects: app.Redirects, AuthMethod: app.AuthMethod, JWKS: spec.JWKS, IDTokenAlg: app.IDTokenAlg, ThirdParty: app.ThirdParty,
		RoleClaims:  app.RoleClaims,
		ResourceURI: app.ResourceURI, ImpersonationAllowed: app.ImpersonationAllowed,
		TLSClientAuth: app.TLSClientAuth, Certificates: app.Certificates, CertificateBoundTokens: app.CertificateBoundTokens,
	}}
	unique := []eventstore.Unique{{Kind: uniqueClientID, Value: app.ClientID, Field: "clientId"}}
	if app.ResourceURI != "" {
		unique = append(unique, eventstore.Unique{Kind: uniqueResource, Value: app.ResourceURI, Field: "resourceUri"})
	}
	var secret string
	if !app.Public && !noSecret(app.AuthMethod) {
		var added *SecretAdded
		if added, secret, err = c.newSecret(instanceID, app); err != nil {
			return Application{}, "", err
		}
		events = append(events, added)
		app.Secrets = []Secret{{ID: added.SecretID}}
	}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{
		Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq, Events: events,
		Unique: unique,
	})
	if err != nil {
		return Application{}, "", err
	}
	app.CreatedAt = stored[0].CreatedAt.UTC().Truncate(time.Second)
	for i := range app.Secrets {
		app.Secrets[i].CreatedAt = app.CreatedAt
	}
	return app, secret, nil
}

// noSecret reports whether a confidential client of method has no
// secret: it authenticates with a key or a certificate.
func noSecret(method string) bool {
	return method == oauth.AuthPrivateKeyJWT || method == oauth.AuthTLSClientAuth || method == oauth.AuthSelfSignedTLSClientAuth
}

func projectAggregate(instanceID string, p Project) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: p.ID, Owner: p.OrgID}
}

func (c *Commands) newSecret(instanceID string, app Application) (*SecretAdded, string, error) {
	secret, err := newSecret()
	if err != nil {
		return nil, "", err
	}
	keyID := c.hasher.ring.CurrentID()
	hash, err := c.hasher.hash(keyID, instanceID, app.ClientID, secret)
	if err != nil {
		return nil, "", err
	}
	return &SecretAdded{AppID: app.ID, SecretID: id.New(), KeyID: keyID, Hash: hash}, secret, nil
}

// AddSecret rotates a confidential application's secret: a new secret is
// added and returned once, and the secrets valid until now stay valid for
// overlap more (zero: they are removed at once), so that the client's
// replicas can switch without downtime. At most two secrets are valid at a
// time: while an overlap runs, another rotation is failure.
// FailedPrecondition. Secrets whose validity ended are removed.
func (c *Commands) AddSecret(ctx context.Context, editor eventstore.Editor, instanceID, appID string, overlap time.Duration) (Secret, string, error) {
	if overlap < 0 || overlap > MaxSecretOverlap {
		return Secret{}, "", failure.InvalidArgument("overlap", "must be from 0 to %s", MaxSecretOverlap)
	}
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return Secret{}, "", err
	}
	if app.Public {
		return Secret{}, "", failure.FailedPrecondition("application %s is a public client, which has no secrets", appID)
	}
	now := c.now()
	var events []eventstore.Payload
	var live []Secret
	for _, s := range app.Secrets {
		if s.ValidAt(now) {
			live = append(live, s)
		} else {
			events = append(events, &SecretRemoved{AppID: app.ID, SecretID: s.ID})
		}
	}
	if len(live) >= maxValidSecrets {
		return Secret{}, "", failure.FailedPrecondition("application %s has %d valid secrets already; remove one, or wait until the overlap ends", appID, len(live))
	}
	for _, s := range live {
		switch {
		case !s.ExpiresAt.IsZero(): // already ending
		case overlap == 0:
			events = append(events, &SecretRemoved{AppID: app.ID, SecretID: s.ID})
		default:
			events = append(events, &SecretExpirySet{AppID: app.ID, SecretID: s.ID, ExpiresAt: now.Add(overlap).UTC().Truncate(time.Second)})
		}
	}
	added, secret, err := c.newSecret(instanceID, app)
	if err != nil {
		return Secret{}, "", err
	}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: append(events, added)})
	if err != nil {
		return Secret{}, "", err
	}
	return Secret{ID: added.SecretID, CreatedAt: stored[len(stored)-1].CreatedAt.UTC().Truncate(time.Second)}, secret, nil
}

// RemoveSecret removes a secret of an application at once; a secret it
// does not have is failure.NotFound.
func (c *Commands) RemoveSecret(ctx context.Context, editor eventstore.Editor, instanceID, appID, secretID string) error {
	app, p, seq, err := c.load(ctx, instanceID, appID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(app.Secrets, func(s Secret) bool { return s.ID == secretID }) {
		return failure.NotFound("application %s has no secret %.64q", appID, secretID)
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: projectAggregate(instanceID, p), ExpectedSequence: seq,
		Events: []eventstore.Payload{&SecretRemoved{AppID: app.ID, SecretID: secretID}}})
	return err
}

// load reads an application, its project and the project's sequence.
func (c *Commands) load(ctx context.Context, instanceID, appID string) (Application, Project, int64, error) {
	app, err := GetApplication(ctx, c.store.DB(), instanceID, appID)
	if err != nil {
		return Application{}, Project{}, 0, err
	}
	p, seq, err := getProject(ctx, c.store.DB(), instanceID, app.ProjectID)
	return app, p, seq, err
}
