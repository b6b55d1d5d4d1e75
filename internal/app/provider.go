package app

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/history"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/machinecert"
	"github.com/castellan-iam/castellan/internal/machinekey"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/consent"
	"github.com/castellan-iam/castellan/internal/oauth/device"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpopstore"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/logout"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
	"github.com/castellan-iam/castellan/internal/op"
	"github.com/castellan-iam/castellan/internal/op/grant"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
)

// Tokens returns the provider's token service over the instances' signing
// keys. One per App: it caches signing keys.
func (a *App) Tokens() *token.Tokens {
	a.tokensOnce.Do(func() { a.tokens = token.NewTokens(a.Store, token.NewKeys(a.Store, a.Keys, nil), nil) })
	return a.tokens
}

// AuthRequests returns the store of authorization requests.
func (a *App) AuthRequests() *authreq.Requests { return authreq.New(a.DB, nil) }

// gatedAuthRequests are the authorization requests as the logins finish
// them (the hosted one, and custom ones through the Session API): only for
// a user the application's project lets in (its "require authorization"
// and "require organization access" settings); otherwise the request ends
// with access_denied, sent back to the client, instead of a code the
// token endpoint would refuse.
type gatedAuthRequests struct {
	*authreq.Requests
	db *database.DB
}

func (g gatedAuthRequests) Finish(ctx context.Context, instanceID, id string, gr authreq.Grant) (string, error) {
	r, err := g.Get(ctx, instanceID, id)
	if err != nil {
		return "", err
	}
	app, err := client.ApplicationByClientID(ctx, g.db, instanceID, r.ClientID)
	if err != nil {
		return "", err
	}
	if err := project.MayUse(ctx, g.db, instanceID, gr.UserID, app.ProjectID); err != nil {
		var fe *failure.Error
		if errors.As(err, &fe) && fe.Kind == failure.KindPermissionDenied {
			return g.Deny(ctx, instanceID, id, "access_denied", fe.Message)
		}
		return "", err
	}
	return g.Requests.Finish(ctx, instanceID, id, gr)
}

// loginAuthRequests are the authorization requests for the logins.
func (a *App) loginAuthRequests() gatedAuthRequests {
	return gatedAuthRequests{Requests: a.AuthRequests(), db: a.DB}
}

// consents are the users' consents to third-party applications; revoking
// one also ends the grants the application holds for the user.
type consents struct {
	*consent.Consents
	grants *grants.Grants
}

func (c consents) Revoke(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID, clientID string) error {
	if err := c.Consents.Revoke(ctx, editor, instanceID, orgID, userID, clientID); err != nil {
		return err
	}
	return c.grants.RevokeUserClient(ctx, editor, instanceID, userID, clientID)
}

// Consents returns the users' consents to third-party applications.
func (a *App) Consents() consents {
	return consents{Consents: consent.New(a.Store), grants: a.Grants()}
}

// Devices returns the store of device authorization requests.
func (a *App) Devices() *device.Requests { return device.New(a.DB, nil) }

// Grants returns the grants and refresh tokens of the provider: one per
// App, so that concurrent refreshes commit together.
func (a *App) Grants() *grants.Grants {
	a.grantsOnce.Do(func() { a.grants = grants.New(a.Store, nil) })
	return a.grants
}

// userClaims are the claims of a user that scopes release to an
// application: its profile, and its roles of projects — failing when the
// application's project does not let the user in.
func (a *App) userClaims(ctx context.Context, instanceID, userID string, app client.Application, scopes []string) (map[string]any, error) {
	out, err := claims.Of(ctx, a.DB, instanceID, userID, scopes)
	if err != nil {
		return nil, err
	}
	roles, err := project.TokenClaims(ctx, a.DB, instanceID, userID, app.ProjectID, app.RoleClaims, scopes)
	if err != nil {
		return nil, err
	}
	for k, v := range roles {
		out[k] = v
	}
	return out, nil
}

// sessionEnded ends the grants made through a session that ended, and
// sends a logout token to each of their clients that registered a
// back-channel logout URI — in the background, after the sign-out
// answered (package logout).
func (a *App) sessionEnded(ctx context.Context, instanceID, sessionID string) {
	list, err := a.Grants().RevokeSession(ctx, eventstore.Editor{ClientID: "session"}, instanceID, sessionID)
	if err != nil {
		a.Log.Warn("end the grants of a session", "session", sessionID, "err", err)
		return
	}
	inst, err := instance.ByID(ctx, a.DB, instanceID)
	if err != nil {
		a.Log.Warn("end the grants of a session", "session", sessionID, "err", err)
		return
	}
	iss := inst.Issuer(a.Config.ExternalURL)
	var deliveries []logout.Delivery
	seen := map[string]bool{}
	for _, g := range list {
		if seen[g.ClientID] {
			continue
		}
		seen[g.ClientID] = true
		app, err := client.ApplicationByClientID(ctx, a.DB, instanceID, g.ClientID)
		if err != nil || app.BackchannelLogoutURI == "" {
			continue
		}
		tok, err := a.Tokens().IssueLogoutToken(ctx, instanceID, iss, app.IDTokenAlg, g.ClientID, g.UserID, sessionID)
		if err != nil {
			a.Log.Warn("logout token", "client_id", g.ClientID, "err", err)
			continue
		}
		deliveries = append(deliveries, logout.Delivery{ClientID: g.ClientID, URI: app.BackchannelLogoutURI, Token: tok})
	}
	if len(deliveries) > 0 {
		go logout.NewDeliverer(a.Log).Deliver(context.WithoutCancel(ctx), deliveries)
	}
}

// tokenSettingsCacheTTL is how long the provider uses the tokens settings
// of an organization it read: a change applies to new tokens at most this
// much later, and a grant does not read the settings every time.
const tokenSettingsCacheTTL = time.Second

// tokenSettingsCache caches the tokens settings in force per organization.
type tokenSettingsCache struct {
	read func(ctx context.Context, instanceID, orgID string) (settings.Settings, error)
	mu   sync.Mutex
	m    map[string]cachedTokenSettings
}

type cachedTokenSettings struct {
	t     settings.Tokens
	until time.Time
}

func (c *tokenSettingsCache) get(ctx context.Context, instanceID, orgID string) (settings.Tokens, error) {
	key, now := instanceID+"\x00"+orgID, time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.t, nil
	}
	s, err := c.read(ctx, instanceID, orgID)
	if err != nil {
		return settings.Tokens{}, err
	}
	c.mu.Lock()
	if len(c.m) > 10000 {
		c.m = map[string]cachedTokenSettings{}
	}
	c.m[key] = cachedTokenSettings{t: s.Tokens, until: now.Add(tokenSettingsCacheTTL)}
	c.mu.Unlock()
	return s.Tokens, nil
}

// mountProvider serves the OpenID provider's endpoints on srv, in the
// OAuth route group.
func (a *App) mountProvider(srv *server.Server) {
	tokenSettings := (&tokenSettingsCache{read: a.settingsOf, m: map[string]cachedTokenSettings{}}).get
	accessLifetime := func(ctx context.Context, instanceID, orgID string) (time.Duration, error) {
		t, err := tokenSettings(ctx, instanceID, orgID)
		return t.AccessToken, err
	}
	trustSets := trustset.NewVerifier(a.DB, nil)
	clients := client.NewClients(a.DB, a.Keys, nil).WithCertificates(trustSets, client.NewRefusalAudit(a.Store, a.Log).Report)
	machineCerts := machinecert.NewAuthenticator(a.DB, trustSets, a.Store, a.Log, nil)
	machines := func(ctx context.Context, instanceID, userID string, chain []*x509.Certificate) (*grant.Machine, error) {
		m, err := machineCerts.Authenticate(ctx, instanceID, userID, chain)
		var r *machinecert.Rejection
		if errors.As(err, &r) {
			return nil, &oauth.Error{Code: oauth.InvalidClient, Description: "client authentication failed", Cause: err}
		}
		if err != nil {
			return nil, err
		}
		return &grant.Machine{UserID: m.UserID, OrgID: m.OrgID, Certificate: m.Certificate}, nil
	}
	mayUse := func(ctx context.Context, instanceID, userID, projectID string) error {
		return project.MayUse(ctx, a.DB, instanceID, userID, projectID)
	}
	standing := func(ctx context.Context, instanceID, userID string) (string, bool, error) {
		s, err := user.StandingOf(ctx, a.DB, instanceID, userID)
		return s.OrgID, s.Active, err
	}
	p := op.New(op.Deps{
		Tokens: a.Tokens(), Clients: clients, ExternalURL: a.Config.ExternalURL, Log: a.Log,
		Grants: []grant.Grant{
			grant.ClientCredentials{Tokens: a.Tokens(), Lifetime: accessLifetime, Resources: clients, Access: mayUse},
			grant.JWTBearer{Tokens: a.Tokens(), Assertions: machinekey.NewAssertions(a.DB, nil), Users: standing, Lifetime: accessLifetime, Resources: clients,
				Claims: a.userClaims, Access: mayUse},
			grant.TokenExchange{Tokens: a.Tokens(), Users: standing, Lifetime: accessLifetime, Resources: clients, Claims: a.userClaims, Access: mayUse},
			grant.AuthorizationCode{Tokens: a.Tokens(), Claims: a.userClaims, Settings: tokenSettings, Codes: a.AuthRequests(), Grants: a.Grants(),
				Resources: clients, Access: mayUse},
			grant.RefreshToken{Tokens: a.Tokens(), Claims: a.userClaims, Settings: tokenSettings, Grants: a.Grants(), Resources: clients, Access: mayUse},
			grant.DeviceCode{Tokens: a.Tokens(), Claims: a.userClaims, Settings: tokenSettings, Devices: a.Devices(), Grants: a.Grants(),
				Resources: clients, Access: mayUse},
		},
		Devices:      a.Devices(),
		AuthRequests: a.AuthRequests(), LoginPath: "/ui/login/", Claims: a.userClaims, UserGrants: a.Grants(), Sealer: a.Keys,
		DPoP:            &dpop.Checker{Nonces: dpop.NewNonces(a.Keys, nil), Replays: dpopstore.NewReplays(a.DB)},
		MTLSExternalURL: a.Config.MTLS.ExternalURL,
		Machines:        machines,
	})
	for pattern, h := range p.Routes() {
		srv.Handle(pattern, h)
	}
}

// History answers what objects looked like at a past moment, replaying
// their events through the read models' own projections.
func (a *App) History() *history.Replayer {
	return history.New(a.Store, Migrations(), Projections())
}
