package grant

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"regexp"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// Codes redeems authorization codes (authreq.Requests).
type Codes interface {
	Redeem(ctx context.Context, instanceID, clientID, code string, check func(authreq.Request) error, issued authreq.Issued) (authreq.Redeemed, error)
}

// Grants records grants and their refresh tokens (grants.Grants).
type Grants interface {
	Issue(ctx context.Context, editor eventstore.Editor, s grants.Spec) (string, error)
	// RefreshBound rotates a refresh token of a request that proved
	// the DPoP key jkt ("" for none); grants.ErrKeyMismatch for the
	// token of a grant bound to another key.
	RefreshBound(ctx context.Context, instanceID, clientID, token string, idle time.Duration, jkt string) (grants.Grant, string, error)
	// Renew is RefreshBound keeping the token (no rotation), for FAPI
	// 2.0 clients.
	Renew(ctx context.Context, instanceID, clientID, token string, idle time.Duration, jkt string) (grants.Grant, error)
	Revoke(ctx context.Context, editor eventstore.Editor, instanceID, grantID, reason string) error
	// ByRefreshToken reads the grant of a refresh token without
	// rotating it; grants.ErrInvalid for none.
	ByRefreshToken(ctx context.Context, instanceID, token string) (grants.Grant, time.Time, error)
}

// AuthorizationCode is the authorization code grant (RFC 6749 section
// 4.1.3, OIDC Core section 3.1.3) with PKCE (RFC 7636): the client
// redeems, once, a code the login made for it, with the redirect URI of
// the request and the verifier of its challenge. It returns an access
// token (a JWT, RFC 9068, whose sub is the user), an ID token when openid
// was granted, and a refresh token when offline_access was and the client
// registered the refresh_token grant. A code presented again revokes what
// its first redemption issued (section 4.1.2).
type AuthorizationCode struct {
	Tokens   UserTokens
	Claims   Claims
	Settings TokenSettings
	Codes    Codes
	Grants   Grants
	// Resources and Access check that the projects of the resource
	// servers the grant is for let the user in (RFC 8707).
	Resources Resources
	Access    ProjectAccess
}

// Type implements Grant.
func (AuthorizationCode) Type() string { return oauth.GrantAuthorizationCode }

// pkceVerifier is a code_verifier of RFC 7636 section 4.1.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func invalidGrant(format string, args ...any) error {
	return oauth.Errorf(oauth.InvalidGrant, format, args...)
}

// checkCode checks the redirect URI and PKCE of a code's request before
// the code is spent: a wrong verifier does not burn it.
func checkCode(redirectURI, verifier string) func(authreq.Request) error {
	return checkRedemption(redirectURI, verifier, nil)
}

// checkRedemption is checkCode, and also checks that the token request's
// resources were authorized (RFC 8707 section 2.2) when r is not nil;
// like a wrong verifier, a wrong resource does not burn the code.
func checkRedemption(redirectURI, verifier string, r *Request) func(authreq.Request) error {
	return func(req authreq.Request) error {
		if r != nil {
			if err := checkNarrowing(*r, req.Resources); err != nil {
				return err
			}
		}
		if req.DPoPJKT != "" && (r == nil || r.presentedKey() != req.DPoPJKT) {
			// RFC 9449 section 10: a code of a request with dpop_jkt is
			// redeemed only with a proof of that key.
			return invalidGrant("the code is bound to a DPoP key (dpop_jkt): the token request's DPoP proof must be signed with it")
		}
		if redirectURI != req.RedirectURI {
			return invalidGrant("redirect_uri differs from the authorization request's")
		}
		if req.CodeChallenge == "" {
			if verifier != "" {
				return invalidGrant("code_verifier given, but the authorization request had no code_challenge")
			}
			if r != nil && r.Client.Application().Public {
				// A confidential client's code without PKCE, redeemed after
				// the client became public: nothing would authenticate it.
				return invalidGrant("a public client redeems only codes of requests with a code_challenge (PKCE)")
			}
			return nil
		}
		if !pkceVerifier.MatchString(verifier) {
			return invalidGrant("code_verifier is missing or malformed (RFC 7636 section 4.1)")
		}
		sum := sha256.Sum256([]byte(verifier))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(req.CodeChallenge)) != 1 {
			return invalidGrant("code_verifier does not match the code_challenge")
		}
		return nil
	}
}

// Token implements Grant.
func (g AuthorizationCode) Token(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	app := r.Client.Application()
	code := r.Form.Get("code")
	if code == "" {
		return nil, oauth.Errorf(oauth.InvalidRequest, "code is required")
	}
	lifetimes, err := g.Settings(ctx, r.InstanceID, app.OrgID)
	if err != nil {
		return nil, err
	}
	accessID, grantID := id.New(), grants.NewID()
	redeemed, err := g.Codes.Redeem(ctx, r.InstanceID, app.ClientID, code, checkRedemption(r.Form.Get("redirect_uri"), r.Form.Get("code_verifier"), &r),
		authreq.Issued{AccessTokenID: accessID, AccessTokenExpiry: time.Now().Add(accessLifetime(app, lifetimes)), FamilyID: grantID})
	switch {
	case errors.Is(err, authreq.ErrCodeReused):
		return nil, g.revokeReused(ctx, r, redeemed)
	case errors.Is(err, authreq.ErrInvalidCode):
		return nil, invalidGrant("the code is invalid, expired, or was issued to another client")
	case err != nil:
		return nil, err
	}
	req := redeemed.Request
	gr := grants.Grant{ID: grantID, InstanceID: r.InstanceID, ClientID: app.ClientID, UserID: req.UserID, OrgID: req.OrgID, SessionID: req.SessionID,
		Scopes: req.Scopes, AuthTime: req.AuthTime, AMR: req.AMR, Resources: req.Resources}
	if err := mayReach(ctx, g.Resources, g.Access, r.InstanceID, req.UserID, grantResources(r, gr)); err != nil {
		return nil, err
	}
	return userTokens{Tokens: g.Tokens, Claims: g.Claims, Settings: g.Settings}.newGrant(ctx, r, g.Grants, gr, accessID, req.Nonce, req.ID, lifetimes)
}

// revokeReused revokes what a code's first redemption issued: its access
// token and its grant with the grant's refresh tokens.
func (g AuthorizationCode) revokeReused(ctx context.Context, r Request, first authreq.Redeemed) error {
	editor := eventstore.Editor{ClientID: r.Client.Application().ClientID}
	if first.AccessTokenID != "" && time.Now().Before(first.AccessTokenExpiry) {
		err := g.Tokens.Revoke(ctx, editor, r.InstanceID, first.OrgID, token.AccessClaims{
			ID: first.AccessTokenID, ClientID: first.ClientID, Expiry: first.AccessTokenExpiry.Unix(),
		})
		if err != nil {
			return err
		}
	}
	if first.FamilyID != "" {
		if err := g.Grants.Revoke(ctx, editor, r.InstanceID, first.FamilyID, "code_reuse"); err != nil {
			return err
		}
	}
	return invalidGrant("the code was used before; the tokens issued with it are revoked")
}
