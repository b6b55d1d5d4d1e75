package grant

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/claims"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/settings"
)

// UserTokens issues what the grants of a signed-in user return.
type UserTokens interface {
	IssueAccess(ctx context.Context, instanceID, format string, a token.Access) (string, token.AccessClaims, error)
	IssueIDToken(ctx context.Context, instanceID string, in token.IDToken) (string, error)
	Revoke(ctx context.Context, editor eventstore.Editor, instanceID, ownerOrg string, c token.AccessClaims) error
}

// Claims returns the claims of a user the scopes release to an
// application — its profile (claims.Of) and its roles (package project) —
// failing for a user who may no longer sign in, or not to the
// application's project.
type Claims func(ctx context.Context, instanceID, userID string, app client.Application, scopes []string) (map[string]any, error)

// TokenSettings answers the token lifetimes in force for an organization.
type TokenSettings func(ctx context.Context, instanceID, orgID string) (settings.Tokens, error)

// userTokens is what the authorization code and refresh grants share:
// issuing an access token, and an ID token when openid was granted.
type userTokens struct {
	Tokens   UserTokens
	Claims   Claims
	Settings TokenSettings
}

// issue answers a request of the client app for the user of grant g,
// with accessID as the access token's jti and nonce for the ID token.
func (u userTokens) issue(ctx context.Context, r Request, g grants.Grant, accessID, nonce string, lifetimes settings.Tokens) (*oauth.TokenResponse, token.AccessClaims, error) {
	app := r.Client.Application()
	userClaims, err := u.Claims(ctx, r.InstanceID, g.UserID, app, g.Scopes)
	if fe := (*failure.Error)(nil); errors.As(err, &fe) && fe.Kind == failure.KindPermissionDenied {
		return nil, token.AccessClaims{}, oauth.Errorf(oauth.InvalidGrant, "the user may not use this application: %s", fe.Message)
	}
	if err != nil {
		return nil, token.AccessClaims{}, oauth.Errorf(oauth.InvalidGrant, "the user can no longer sign in")
	}
	// The roles go in the access token too, for the resource servers; the
	// projects whose roles were asked for join its audience.
	var roles map[string]any
	for k, v := range userClaims {
		if project.IsRoleClaim(k) {
			if roles == nil {
				roles = map[string]any{}
			}
			roles[k] = v
		}
	}
	cnf, err := certificateBinding(r)
	if err != nil {
		return nil, token.AccessClaims{}, err
	}
	raw, ac, err := u.Tokens.IssueAccess(ctx, r.InstanceID, app.AccessTokenType, token.Access{
		Issuer: r.Issuer, Subject: g.UserID, ClientID: app.ClientID, Audience: userAudience(r, app, g, project.Audience(app.ProjectID, g.Scopes)),
		Scopes: g.Scopes, Lifetime: accessLifetime(app, lifetimes), ID: accessID, AuthTime: g.AuthTime, SessionID: g.SessionID, Extra: roles,
		Cnf: withDPoP(cnf, r), MayAct: app.MayAct,
	})
	if err != nil {
		return nil, token.AccessClaims{}, err
	}
	resp := &oauth.TokenResponse{AccessToken: raw, TokenType: r.tokenType(), ExpiresIn: ac.Expiry - ac.IssuedAt, Scope: ac.Scope}
	if slices.Contains(g.Scopes, claims.ScopeOpenID) {
		resp.IDToken, err = u.Tokens.IssueIDToken(ctx, r.InstanceID, token.IDToken{
			Issuer: r.Issuer, Subject: g.UserID, Audience: app.ClientID, Nonce: nonce, AuthTime: g.AuthTime, AMR: g.AMR,
			SessionID: g.SessionID, AccessToken: raw, Lifetime: lifetimes.IDToken, Claims: userClaims, Algorithm: app.IDTokenAlg,
		})
		if err != nil {
			return nil, token.AccessClaims{}, err
		}
	}
	return resp, ac, nil
}

func accessLifetime(app client.Application, s settings.Tokens) time.Duration {
	if app.AccessTokenLifetime != 0 {
		return app.AccessTokenLifetime
	}
	return s.AccessToken
}

// newGrant answers the first request of a grant the user just made (a
// redeemed code, an approved device): its tokens, and the grant recorded
// with a refresh token when offline_access was granted and the client may
// refresh. requestID names the authorization or device request.
func (u userTokens) newGrant(ctx context.Context, r Request, store Grants, gr grants.Grant, accessID, nonce, requestID string, lifetimes settings.Tokens) (*oauth.TokenResponse, error) {
	app := r.Client.Application()
	resp, ac, err := u.issue(ctx, r, gr, accessID, nonce, lifetimes)
	if err != nil {
		return nil, err
	}
	gr.Cnf = refreshBinding(r, ac.Cnf)
	refresh := slices.Contains(gr.Scopes, claims.ScopeOfflineAccess) && app.Allows(oauth.GrantRefreshToken)
	gr.DPoPJKT = r.refreshBinding()
	resp.RefreshToken, err = store.Issue(ctx, eventstore.Editor{UserID: gr.UserID, ClientID: app.ClientID, SessionID: gr.SessionID}, grants.Spec{
		Grant: gr, AuthRequestID: requestID, AccessTokenID: accessID, Refresh: refresh, Lifetime: lifetimes.RefreshToken, Idle: lifetimes.RefreshTokenIdle,
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
