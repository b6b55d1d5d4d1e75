package grant

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// ClientCredentialsTokens issues the access tokens (token.Tokens).
type ClientCredentialsTokens interface {
	IssueAccess(ctx context.Context, instanceID, format string, a token.Access) (string, token.AccessClaims, error)
}

// AccessTokenLifetime answers the access token lifetime of the settings in
// force for an organization.
type AccessTokenLifetime func(ctx context.Context, instanceID, orgID string) (time.Duration, error)

// ClientCredentials is the client credentials grant (RFC 6749 section
// 4.4): a confidential client obtains an access token for itself. The
// token is a JWT (RFC 9068) whose sub and client_id are the client's id,
// whose aud is the client's project — or the resource servers named with
// resource (RFC 8707) — signed and not stored.
type ClientCredentials struct {
	Tokens    ClientCredentialsTokens
	Lifetime  AccessTokenLifetime
	Resources Resources
}

// Type implements Grant.
func (ClientCredentials) Type() string { return oauth.GrantClientCredentials }

// Token implements Grant.
func (g ClientCredentials) Token(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	app := r.Client.Application()
	if app.Public {
		return nil, oauth.Errorf(oauth.UnauthorizedClient, "a public client cannot use client_credentials")
	}
	scopes, err := grantedScopes(r.Form.Get("scope"), app.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := audienceOf(ctx, g.Resources, r, []string{app.ProjectID})
	if err != nil {
		return nil, err
	}
	lifetime := app.AccessTokenLifetime
	if lifetime == 0 {
		if lifetime, err = g.Lifetime(ctx, r.InstanceID, app.OrgID); err != nil {
			return nil, err
		}
	}
	cnf, err := certificateBinding(r)
	if err != nil {
		return nil, err
	}
	raw, claims, err := g.Tokens.IssueAccess(ctx, r.InstanceID, app.AccessTokenType, token.Access{
		Issuer: r.Issuer, Subject: app.ClientID, ClientID: app.ClientID, Audience: aud, Scopes: scopes, Lifetime: lifetime, Cnf: withDPoP(cnf, r),
		MayAct: app.MayAct,
	})
	if err != nil {
		return nil, err
	}
	return &oauth.TokenResponse{AccessToken: raw, TokenType: r.tokenType(), ExpiresIn: claims.Expiry - claims.IssuedAt, Scope: claims.Scope}, nil
}
