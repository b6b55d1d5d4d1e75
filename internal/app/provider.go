package app

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/op"
	"github.com/castellan-iam/castellan/internal/op/grant"
	"github.com/castellan-iam/castellan/internal/server"
)

// Tokens returns the provider's token service over the instances' signing
// keys. One per App: it caches signing keys.
func (a *App) Tokens() *token.Tokens {
	a.tokensOnce.Do(func() { a.tokens = token.NewTokens(a.Store, token.NewKeys(a.Store, a.Keys, nil), nil) })
	return a.tokens
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
			grant.ClientCredentials{Tokens: a.Tokens(), Lifetime: a.accessTokenLifetime},
		},
	})
	for pattern, h := range p.Routes() {
		srv.Handle(pattern, h)
	}
}
