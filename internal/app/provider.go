package app

import (
	"context"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/op"
	"github.com/castellan-iam/castellan/internal/op/grant"
	"github.com/castellan-iam/castellan/internal/server"
	"github.com/castellan-iam/castellan/internal/settings"
)

// Tokens returns the provider's token service over the instances' signing
// keys. One per App: it caches signing keys.
func (a *App) Tokens() *token.Tokens {
	a.tokensOnce.Do(func() { a.tokens = token.NewTokens(a.Store, token.NewKeys(a.Store, a.Keys, nil), nil) })
	return a.tokens
}

// AuthRequests returns the store of authorization requests.
func (a *App) AuthRequests() *authreq.Requests { return authreq.New(a.DB, nil) }

// Grants returns the grants and refresh tokens of the provider.
func (a *App) Grants() *grants.Grants { return grants.New(a.Store, nil) }

// userClaims are the claims of a user that scopes release.
func (a *App) userClaims(ctx context.Context, instanceID, userID string, scopes []string) (map[string]any, error) {
	c, _, err := claims.Of(ctx, a.DB, instanceID, userID, scopes)
	return c, err
}

// tokenSettings are the token lifetimes in force for an organization.
func (a *App) tokenSettings(ctx context.Context, instanceID, orgID string) (settings.Tokens, error) {
	s, err := a.settingsOf(ctx, instanceID, orgID)
	return s.Tokens, err
}

// lifetimeCacheTTL is how long the provider uses an organization's access
// token lifetime it read: a change of the tokens settings applies to new
// tokens at most this much later, and a grant does not read the settings
// every time.
const lifetimeCacheTTL = time.Second

// lifetimes caches the access token lifetime of the settings in force per
// organization.
type lifetimes struct {
	read func(ctx context.Context, instanceID, orgID string) (time.Duration, error)
	mu   sync.Mutex
	m    map[string]cachedLifetime
}

type cachedLifetime struct {
	d     time.Duration
	until time.Time
}

func (l *lifetimes) get(ctx context.Context, instanceID, orgID string) (time.Duration, error) {
	key, now := instanceID+"\x00"+orgID, time.Now()
	l.mu.Lock()
	c, ok := l.m[key]
	l.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.d, nil
	}
	d, err := l.read(ctx, instanceID, orgID)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	if len(l.m) > 10000 {
		l.m = map[string]cachedLifetime{}
	}
	l.m[key] = cachedLifetime{d: d, until: now.Add(lifetimeCacheTTL)}
	l.mu.Unlock()
	return d, nil
}

// accessTokenLifetime is the access token lifetime of the settings in
// force for an organization.
func (a *App) accessTokenLifetime(ctx context.Context, instanceID, orgID string) (time.Duration, error) {
	s, err := a.settingsOf(ctx, instanceID, orgID)
	return s.Tokens.AccessToken, err
}

// mountProvider serves the OpenID provider's endpoints on srv, in the
// OAuth route group.
func (a *App) mountProvider(srv *server.Server) {
	p := op.New(op.Deps{
		Tokens: a.Tokens(), Clients: client.NewClients(a.DB, a.Keys, nil), ExternalURL: a.Config.ExternalURL, Log: a.Log,
		Grants: []grant.Grant{
			grant.ClientCredentials{Tokens: a.Tokens(), Lifetime: (&lifetimes{read: a.accessTokenLifetime, m: map[string]cachedLifetime{}}).get},
			grant.AuthorizationCode{Tokens: a.Tokens(), Claims: a.userClaims, Settings: a.tokenSettings, Codes: a.AuthRequests(), Grants: a.Grants()},
			grant.RefreshToken{Tokens: a.Tokens(), Claims: a.userClaims, Settings: a.tokenSettings, Grants: a.Grants()},
		},
		AuthRequests: a.AuthRequests(), LoginPath: "/ui/login/", Claims: a.userClaims, UserGrants: a.Grants(), Sealer: a.Keys,
	})
	for pattern, h := range p.Routes() {
		srv.Handle(pattern, h)
	}
}
