package grant

import (
	"context"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
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
	// Access decides whether a machine user may reach the projects of
	// the resources it names (as for the JWT bearer grant).
	Access ProjectAccess
}

// Type implements Grant.
func (ClientCredentials) Type() string { return oauth.GrantClientCredentials }

// Token implements Grant.
func (g ClientCredentials) Token(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	if r.Machine != nil {
		return g.machineToken(ctx, r)
	}
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

// machineToken answers a machine user that authenticated with its
// certificate (the client_id is its user id): the token's sub and
// client_id are the user, its aud the issuer — the token is for Castellan
// itself, as a JWT bearer token without a client — or the resource
// servers named, no scope may be asked for, it is a JWT with the
// lifetime of the user's organization's settings, and it is bound to the
// certificate (cnf x5t#S256, RFC 8705 section 3), and to the DPoP proof's
// key when there is one.
func (g ClientCredentials) machineToken(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	m := r.Machine
	if s := strings.TrimSpace(r.Form.Get("scope")); s != "" {
		return nil, oauth.Errorf(oauth.InvalidScope, "a machine user's own token has no scopes")
	}
	aud, err := audienceOf(ctx, g.Resources, r, []string{r.Issuer})
	if err != nil {
		return nil, err
	}
	if len(r.Form["resource"]) > 0 {
		if err := mayReach(ctx, g.Resources, g.Access, r.InstanceID, m.UserID, aud); err != nil {
			return nil, err
		}
	}
	lifetime, err := g.Lifetime(ctx, r.InstanceID, m.OrgID)
	if err != nil {
		return nil, err
	}
	cnf := &oauth.Confirmation{X5TS256: client.Thumbprint(m.Certificate)}
	raw, claims, err := g.Tokens.IssueAccess(ctx, r.InstanceID, client.TokenJWT, token.Access{
		Issuer: r.Issuer, Subject: m.UserID, ClientID: m.UserID, Audience: aud, Lifetime: lifetime, Cnf: withDPoP(cnf, r),
	})
	if err != nil {
		return nil, err
	}
	return &oauth.TokenResponse{AccessToken: raw, TokenType: r.tokenType(), ExpiresIn: claims.Expiry - claims.IssuedAt}, nil
}
