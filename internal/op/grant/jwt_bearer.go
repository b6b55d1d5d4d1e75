package grant

import (
	"context"
	"errors"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/machinekey"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// MachineAssertions verifies JWT bearer assertions against the machine
// keys (machinekey.Assertions): a refused one wraps
// machinekey.ErrInvalidAssertion.
type MachineAssertions interface {
	Verify(ctx context.Context, instanceID, raw string, audiences []string) (machinekey.Key, error)
}

// UserStanding answers whether a user may authenticate, and its
// organization (user.StandingOf): a user the instance does not have is
// failure.NotFound.
type UserStanding func(ctx context.Context, instanceID, userID string) (orgID string, active bool, err error)

// JWTBearer is the JWT bearer grant (RFC 7523 section 2.1): a machine
// user presents an assertion it signed with one of its machine keys and
// gets an access token whose sub is the user.
//
// Client authentication is optional (section 3.1). With a client — one
// that registered the grant — the token's client_id is the client, its
// aud the client's project, its scopes those the client registered and
// asked for, its format and lifetime the client's. Without one, client_id
// is the user's id (the machine is its own client), aud is the issuer —
// the token is for Castellan itself — no scope may be asked for, and the
// token is a JWT with the lifetime of the user's organization's settings.
// Either way, resource (RFC 8707) replaces aud with the named resource
// servers. The projects' sign-in settings apply as in the code flow: the
// client's project (with the role claims it asks for) and the projects of
// the resources named must let the user in. No refresh token and no ID token are issued: the machine signs
// a new assertion instead. Issuing is not recorded (as client_credentials).
type JWTBearer struct {
	Tokens     ClientCredentialsTokens
	Assertions MachineAssertions
	Users      UserStanding
	Lifetime   AccessTokenLifetime
	Resources  Resources
	// Claims decide, with a client, whether its project lets the user in
	// and which role claims the token carries (as in the code flow);
	// Access whether the projects of the resources named do.
	Claims Claims
	Access ProjectAccess
}

// Type implements Grant.
func (JWTBearer) Type() string { return oauth.GrantJWTBearer }

// ClientOptional implements ClientOptional.
func (JWTBearer) ClientOptional() {}

// Token implements Grant.
func (g JWTBearer) Token(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	raw := r.Form.Get("assertion")
	if raw == "" {
		return nil, oauth.Errorf(oauth.InvalidRequest, "assertion is required")
	}
	// The request's own parameters first: a refused one does not spend
	// the assertion.
	a := token.Access{Issuer: r.Issuer, Audience: []string{r.Issuer}, Cnf: r.confirmation()}
	format, orgID := client.TokenJWT, ""
	var err error
	if !r.NoClient {
		app := r.Client.Application()
		a.ClientID, a.Audience, format = app.ClientID, []string{app.ProjectID}, app.AccessTokenType
		a.MayAct = app.MayAct
		if a.Scopes, err = grantedScopes(r.Form.Get("scope"), app.Scopes); err != nil {
			return nil, err
		}
		a.Lifetime, orgID = app.AccessTokenLifetime, app.OrgID
	} else if s := strings.TrimSpace(r.Form.Get("scope")); s != "" {
		return nil, oauth.Errorf(oauth.InvalidScope, "without client authentication no scope may be asked for")
	}
	if a.Audience, err = audienceOf(ctx, g.Resources, r, a.Audience); err != nil {
		return nil, err
	}
	key, err := g.Assertions.Verify(ctx, r.InstanceID, raw, []string{r.Issuer, r.Endpoint})
	if errors.Is(err, machinekey.ErrInvalidAssertion) {
		return nil, &oauth.Error{Code: oauth.InvalidGrant, Description: "the assertion is invalid, expired, used before, or signed with an unknown key", Cause: err}
	}
	if err != nil {
		return nil, err
	}
	userOrg, active, err := g.Users(ctx, r.InstanceID, key.UserID)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return nil, err
	}
	if err != nil || !active {
		return nil, invalidGrant("the key's user can no longer sign in")
	}
	a.Subject = key.UserID
	if r.NoClient {
		a.ClientID, orgID = key.UserID, userOrg
	} else if a.Extra, err = userRoles(ctx, g.Claims, r.InstanceID, key.UserID, r.Client.Application(), a.Scopes, oauth.InvalidGrant); err != nil {
		return nil, err
	}
	if len(r.Form["resource"]) > 0 {
		if err := mayReach(ctx, g.Resources, g.Access, r.InstanceID, key.UserID, a.Audience); err != nil {
			return nil, err
		}
	}
	if a.Lifetime == 0 {
		if a.Lifetime, err = g.Lifetime(ctx, r.InstanceID, orgID); err != nil {
			return nil, err
		}
	}
	cert, err := certificateBinding(r)
	if err != nil {
		return nil, err
	}
	a.Cnf = withDPoP(cert, r) // the certificate's binding, and the DPoP proof's
	rawToken, claims, err := g.Tokens.IssueAccess(ctx, r.InstanceID, format, a)
	if err != nil {
		return nil, err
	}
	return &oauth.TokenResponse{AccessToken: rawToken, TokenType: r.tokenType(), ExpiresIn: claims.Expiry - claims.IssuedAt, Scope: claims.Scope}, nil
}
