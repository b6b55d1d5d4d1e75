package authn

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
)

// AccessTokens verifies the OpenID provider's access tokens
// (token.Tokens): VerifyAccess fails with an error wrapping
// token.ErrInactive for anything that is not an active access token of the
// instance and issuer — forged, expired, revoked, another instance's.
type AccessTokens interface {
	VerifyAccess(ctx context.Context, instanceID, issuer, raw string) (token.AccessClaims, error)
}

// WithAccessTokens returns a copy of a that also accepts access tokens of
// the instance's own OpenID provider whose audience names the instance's
// issuer (instance.Issuer of externalURL): the management API is the
// issuer's own resource. Such a token authenticates as its subject, a user
// of the instance, with that user's permissions — never more, and nothing
// of the client it was issued to. Refused, each as Unauthenticated:
//
//   - a token whose aud does not name the issuer (a token for a project or
//     a resource server is not a credential for the management API);
//   - a sender-constrained token (cnf: DPoP, RFC 9449, or a certificate,
//     RFC 8705): the management API does not check proofs of possession,
//     and a bound token used as a bearer token would lose its binding;
//   - a delegated token (act, RFC 8693): the API knows no actor, and the
//     user's permissions would be exercised by someone else;
//   - a subject that is not an active user of an active organization (a
//     client's own token has the client as its subject).
//
// Access tokens are verified on every call, not cached with the personal
// access tokens' callers: a revoked one stops working at once on every
// replica (the JWT's signature check is cached by token.Tokens; its
// revocation is read each time).
func (a *Authenticator) WithAccessTokens(v AccessTokens, externalURL string) *Authenticator {
	cp := *a
	cp.access, cp.externalURL = v, externalURL
	return &cp
}

// maxAccessToken bounds the access tokens read (a JWT with role claims is
// a few KiB; an opaque one 47 bytes).
const maxAccessToken = 16 << 10

// isAccessToken reports whether a bearer token is for the provider rather
// than a personal access token: everything that does not carry the
// personal access tokens' prefix.
func (a *Authenticator) isAccessToken(raw string) bool {
	return a.access != nil && !strings.HasPrefix(raw, pat.Prefix)
}

// accessCaller authenticates an access token of the provider.
func (a *Authenticator) accessCaller(ctx context.Context, inst instance.Instance, raw string) (authz.Caller, error) {
	if len(raw) > maxAccessToken {
		return authz.Caller{}, unauthenticated()
	}
	issuer := inst.Issuer(a.externalURL)
	c, err := a.access.VerifyAccess(ctx, inst.ID, issuer, raw)
	if errors.Is(err, token.ErrInactive) {
		return authz.Caller{}, unauthenticated()
	}
	if err != nil {
		return authz.Caller{}, err
	}
	switch {
	case !slices.Contains(c.Audience, issuer):
		return authz.Caller{}, failure.Unauthenticated("the access token is not for the management API: its audience must name the issuer %s", issuer)
	case c.Cnf != nil:
		return authz.Caller{}, failure.Unauthenticated("a sender-constrained access token (cnf: DPoP or a certificate) is not accepted by the management API; use a bearer token")
	case c.Act != nil:
		return authz.Caller{}, failure.Unauthenticated("a delegated access token (act) is not accepted by the management API")
	}
	active, err := user.Active(ctx, a.db, inst.ID, c.Subject)
	if err != nil {
		return authz.Caller{}, err
	}
	if !active {
		return authz.Caller{}, unauthenticated()
	}
	caller, err := member.LoadCaller(ctx, a.db, inst.ID, c.Subject)
	if err != nil {
		return authz.Caller{}, err
	}
	// The editor's session: the sign-in session the token was issued in,
	// or else the token itself (as a personal access token is).
	caller.ClientID, caller.SessionID = c.ClientID, c.SessionID
	if caller.SessionID == "" {
		caller.SessionID = c.ID
	}
	return caller, nil
}
