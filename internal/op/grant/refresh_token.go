package grant

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
)

// RefreshToken is the refresh token grant (RFC 6749 section 6) with
// rotation: each refresh returns a new refresh token and spends the one
// presented; presenting a spent one revokes the whole grant (package
// grants). A narrower scope may be asked for; the grant keeps its own.
//
// A FAPI 2.0 client's refresh tokens are not rotated (the FAPI 2.0
// Security Profile recommends against it: its tokens are
// sender-constrained, and a rotation whose response is lost would strand
// the client): the token presented stays valid, its idle window
// restarted, and the response carries none.
type RefreshToken struct {
	Tokens   UserTokens
	Claims   Claims
	Settings TokenSettings
	Grants   Grants
	// Resources and Access check that the projects of the resource
	// servers the grant is for still let the user in (RFC 8707).
	Resources Resources
	Access    ProjectAccess
}

// Type implements Grant.
func (RefreshToken) Type() string { return oauth.GrantRefreshToken }

// Token implements Grant.
func (g RefreshToken) Token(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	app := r.Client.Application()
	raw := r.Form.Get("refresh_token")
	if raw == "" {
		return nil, oauth.Errorf(oauth.InvalidRequest, "refresh_token is required")
	}
	lifetimes, err := g.Settings(ctx, r.InstanceID, app.OrgID)
	if err != nil {
		return nil, err
	}
	if r.Form.Has("resource") {
		// Checked before the rotation, which would spend the token.
		if peek, _, err := g.Grants.ByRefreshToken(ctx, r.InstanceID, raw); err == nil && peek.ClientID == app.ClientID {
			if err := checkNarrowing(r, peek.Resources); err != nil {
				return nil, err
			}
		} else if err != nil && !errors.Is(err, grants.ErrInvalid) {
			return nil, err
		}
	}
	if err := checkRefreshBinding(ctx, g.Grants, r, raw); err != nil {
		return nil, err
	}
	var (
		gr   grants.Grant
		next string
	)
	if app.FAPI {
		gr, err = g.Grants.Renew(ctx, r.InstanceID, app.ClientID, raw, lifetimes.RefreshTokenIdle, r.presentedKey())
	} else {
		gr, next, err = g.Grants.RefreshBound(ctx, r.InstanceID, app.ClientID, raw, lifetimes.RefreshTokenIdle, r.presentedKey())
	}
	switch {
	case errors.Is(err, grants.ErrKeyMismatch):
		return nil, invalidGrant("the refresh token is bound to a DPoP key: the request's DPoP proof must be signed with it")
	case errors.Is(err, grants.ErrReused):
		return nil, invalidGrant("the refresh token was used before; the grant is revoked, sign in again")
	case errors.Is(err, grants.ErrInvalid):
		return nil, invalidGrant("the refresh token is invalid, expired or revoked")
	case err != nil:
		return nil, err
	}
	if requested := strings.Fields(r.Form.Get("scope")); len(requested) > 0 {
		for _, s := range requested {
			if !slices.Contains(gr.Scopes, s) {
				return nil, oauth.Errorf(oauth.InvalidScope, "scope %.80q was not granted", s)
			}
		}
		gr.Scopes = slices.Compact(requested)
	}
	if err := mayReach(ctx, g.Resources, g.Access, r.InstanceID, gr.UserID, grantResources(r, gr)); err != nil {
		return nil, err
	}
	resp, _, err := userTokens{Tokens: g.Tokens, Claims: g.Claims, Settings: g.Settings}.issue(ctx, r, gr, id.New(), "", lifetimes)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = next
	return resp, nil
}
