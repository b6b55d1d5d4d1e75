package grant

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// ExchangeTokens verifies the tokens presented, issues the new one and
// records the exchange (token.Tokens). VerifyAccess fails with an error
// wrapping token.ErrInactive for a token that is not an active access
// token of the instance.
type ExchangeTokens interface {
	VerifyAccess(ctx context.Context, instanceID, issuer, raw string) (token.AccessClaims, error)
	IssueAccess(ctx context.Context, instanceID, format string, a token.Access) (string, token.AccessClaims, error)
	RecordExchange(ctx context.Context, editor eventstore.Editor, instanceID, ownerOrg string, e token.Exchanged) error
	Revoked(ctx context.Context, instanceID, jti string) (bool, error)
	Revoke(ctx context.Context, editor eventstore.Editor, instanceID, ownerOrg string, c token.AccessClaims) error
}

// maxActors bounds the depth of nested act claims: a chain of delegations
// longer than this is refused.
const maxActors = 5

// TokenExchange is the token exchange grant (RFC 8693): a confidential
// client that registered the grant exchanges an access token of this
// instance (the subject_token) for a new access token acting as the same
// subject — for another audience, with fewer scopes, or on behalf of an
// actor.
//
// Policy:
//   - The subject token is an active access token of the instance (JWT or
//     opaque; expired, revoked and foreign ones are refused), issued to
//     the client itself or for its project (aud its project id, or the
//     resource URI of one of its project's API applications) — so only a
//     party the token was meant for can exchange it. ID tokens and
//     refresh tokens are not accepted: they are not grants of access.
//   - A subject that is a user must still be active, and the projects'
//     sign-in settings apply as in the code flow: the client's project
//     must let the user in (and the new token carries the role claims of
//     the client's project the scopes ask for, not the subject token's),
//     and so must the projects of the resources named.
//   - Delegation (with actor_token): the actor token is an active access
//     token of the instance issued to the exchanging client; the new token
//     carries act {sub, client_id} of the actor, with the subject token's
//     own act nested in it (section 4.1).
//   - Impersonation (no actor_token) needs the client's
//     ImpersonationAllowed; the new token carries the subject token's act
//     unchanged, so a delegation cannot be laundered.
//   - may_act (RFC 8693 section 4.4): a subject token that names who may
//     act for its subject is exchanged only by delegation, with an actor
//     token of that party (its sub, and its client_id when named);
//     otherwise invalid_request. Tokens carry the may_act of the client
//     they were issued to (client.Application.MayAct).
//   - Scopes are at most the subject token's (all of them by default);
//     aud is the client's project, or the resource servers named with
//     resource or audience (RFC 8707, section 2.1 here); the lifetime is
//     the client's, never past the expiry of the tokens presented.
//   - Every exchange is an event, oauth.token.exchanged, naming subject,
//     actor and client (token.Exchanged): the audit trail. Revoking the
//     subject or actor token revokes the tokens exchanged from it
//     (token.Tokens.Revoke), also when the two race.
//
// Errors follow section 2.2.2: a token that is invalid or unacceptable by
// policy is invalid_request, an unknown resource invalid_target.
type TokenExchange struct {
	Tokens    ExchangeTokens
	Users     UserStanding
	Lifetime  AccessTokenLifetime
	Resources Resources
	// Claims decide whether the client's project lets a user subject in,
	// and the role claims the new token carries for it; Access whether
	// the projects of the resources named do.
	Claims Claims
	Access ProjectAccess
}

// Type implements Grant.
func (TokenExchange) Type() string { return oauth.GrantTokenExchange }

func invalidRequest(format string, args ...any) error {
	return oauth.Errorf(oauth.InvalidRequest, format, args...)
}

// Token implements Grant.
func (g TokenExchange) Token(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	return g.exchange(ctx, r, r.Client.Application())
}

// exchange answers r for the authenticated client's application app.
func (g TokenExchange) exchange(ctx context.Context, r Request, app client.Application) (*oauth.TokenResponse, error) {
	if app.Public {
		return nil, oauth.Errorf(oauth.UnauthorizedClient, "a public client cannot exchange tokens")
	}
	if rt := r.Form.Get("requested_token_type"); rt != "" && rt != oauth.TokenTypeAccessToken {
		return nil, invalidRequest("requested_token_type must be %s: only access tokens are issued", oauth.TokenTypeAccessToken)
	}
	subject, err := g.verify(ctx, r, "subject_token", true)
	if err != nil {
		return nil, err
	}
	if ok, err := g.meantFor(ctx, r.InstanceID, app, subject); err != nil || !ok {
		if err == nil {
			err = invalidRequest("the subject_token was issued neither to this client nor for its project")
		}
		return nil, err
	}
	// The subject is a user when the instance has one of its id (a
	// machine's own JWT bearer token has the user's id as client_id
	// too); else it is a client (client_credentials).
	_, active, err := g.Users(ctx, r.InstanceID, subject.Subject)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return nil, err
	}
	isUser := err == nil
	if isUser && !active {
		return nil, invalidRequest("the subject_token's user can no longer sign in")
	}
	notAfter := time.Unix(subject.Expiry, 0)
	act := subject.Act
	var actor *token.AccessClaims
	if r.Form.Has("actor_token") || r.Form.Has("actor_token_type") {
		a, err := g.verify(ctx, r, "actor_token", false)
		if err != nil {
			return nil, err
		}
		if a.ClientID != app.ClientID {
			return nil, invalidRequest("the actor_token was not issued to this client")
		}
		actor, act = &a, &token.Actor{Subject: a.Subject, ClientID: a.ClientID, Act: subject.Act}
		if t := time.Unix(a.Expiry, 0); t.Before(notAfter) {
			notAfter = t
		}
	} else if !app.ImpersonationAllowed {
		return nil, invalidRequest("the client may not impersonate: give an actor_token (delegation)")
	}
	if err := mayAct(subject.MayAct, actor); err != nil {
		return nil, err
	}
	if depth(act) > maxActors {
		return nil, invalidRequest("the chain of actors is longer than %d", maxActors)
	}
	scopes, err := narrowScopes(r.Form.Get("scope"), strings.Fields(subject.Scope))
	if err != nil {
		return nil, err
	}
	aud, err := audienceOf(ctx, g.Resources, r, []string{app.ProjectID}, "audience")
	if err != nil {
		return nil, err
	}
	lifetime := app.AccessTokenLifetime
	if lifetime == 0 {
		if lifetime, err = g.Lifetime(ctx, r.InstanceID, app.OrgID); err != nil {
			return nil, err
		}
	}
	a := token.Access{
		Issuer: r.Issuer, Subject: subject.Subject, ClientID: app.ClientID, Audience: aud, Scopes: scopes, Lifetime: lifetime, ID: id.New(),
		SessionID: subject.SessionID, Act: act, NotAfter: notAfter, Cnf: r.confirmation(), MayAct: app.MayAct,
	}
	if isUser {
		if a.Extra, err = userRoles(ctx, g.Claims, r.InstanceID, subject.Subject, app, scopes, oauth.InvalidRequest); err != nil {
			return nil, err
		}
		if len(r.Form["resource"])+len(r.Form["audience"]) > 0 {
			if err := mayReach(ctx, g.Resources, g.Access, r.InstanceID, subject.Subject, aud); err != nil {
				return nil, err
			}
		}
	}
	if subject.AuthTime != 0 {
		a.AuthTime = time.Unix(subject.AuthTime, 0)
	}
	cert, err := certificateBinding(r)
	if err != nil {
		return nil, err
	}
	a.Cnf = withDPoP(cert, r) // the certificate's binding, and the DPoP proof's
	raw, issued, err := g.Tokens.IssueAccess(ctx, r.InstanceID, app.AccessTokenType, a)
	if err != nil {
		return nil, err
	}
	e := token.Exchanged{
		TokenID: issued.ID, ClientID: app.ClientID, Subject: subject.Subject, SubjectTokenID: subject.ID, SubjectClientID: subject.ClientID,
		Impersonation: actor == nil, Scope: issued.Scope, Audience: issued.Audience, ExpiresAt: issued.Expiry,
	}
	editor := eventstore.Editor{ClientID: app.ClientID}
	if actor != nil {
		e.Actor, e.ActorTokenID, e.ActorClientID = actor.Subject, actor.ID, actor.ClientID
		if actor.Subject != actor.ClientID {
			editor.UserID = actor.Subject
		}
	}
	if err := g.Tokens.RecordExchange(ctx, editor, r.InstanceID, app.OrgID, e); err != nil {
		return nil, err
	}
	// Revoking a token revokes the tokens exchanged from it, found by
	// their records. A revocation of the subject or actor token that
	// raced with this exchange may have looked before this one was
	// recorded; it was committed by then, so it is seen here.
	for _, parent := range []string{e.SubjectTokenID, e.ActorTokenID} {
		if parent == "" {
			continue
		}
		revoked, err := g.Tokens.Revoked(ctx, r.InstanceID, parent)
		if err != nil {
			return nil, err
		}
		if revoked {
			if err := g.Tokens.Revoke(ctx, editor, r.InstanceID, app.OrgID, issued); err != nil {
				return nil, err
			}
			return nil, invalidRequest("a token presented was revoked during the exchange")
		}
	}
	return &oauth.TokenResponse{AccessToken: raw, TokenType: r.tokenType(), IssuedTokenType: oauth.TokenTypeAccessToken,
		ExpiresIn: issued.Expiry - issued.IssuedAt, Scope: issued.Scope}, nil
}

// verify reads and verifies the token of parameter name (subject_token or
// actor_token) with its type parameter: an active access token of the
// instance.
func (g TokenExchange) verify(ctx context.Context, r Request, name string, required bool) (token.AccessClaims, error) {
	raw, typ := r.Form.Get(name), r.Form.Get(name+"_type")
	switch {
	case raw == "" && (required || typ != ""):
		return token.AccessClaims{}, invalidRequest("%s is required", name)
	case typ == "":
		return token.AccessClaims{}, invalidRequest("%s_type is required", name)
	case typ != oauth.TokenTypeAccessToken:
		return token.AccessClaims{}, invalidRequest("%s_type must be %s: only access tokens of this issuer are exchanged", name, oauth.TokenTypeAccessToken)
	}
	c, err := g.Tokens.VerifyAccess(ctx, r.InstanceID, r.Issuer, raw)
	if errors.Is(err, token.ErrInactive) {
		return token.AccessClaims{}, &oauth.Error{Code: oauth.InvalidRequest, Description: "the " + name + " is not an active access token of this issuer", Cause: err}
	}
	if err == nil && c.Cnf != nil && c.Cnf.JKT != "" && c.Cnf.JKT != r.presentedKey() {
		// A DPoP-bound token is exchanged only by the holder of its
		// key: the request's proof must be of that key.
		return token.AccessClaims{}, invalidRequest("the %s is DPoP-bound: the token request's DPoP proof must be signed with its key", name)
	}
	return c, err
}

// meantFor reports whether an access token was issued to app or for its
// project: aud names the project, or the resource URI of one of the
// project's API applications.
func (g TokenExchange) meantFor(ctx context.Context, instanceID string, app client.Application, c token.AccessClaims) (bool, error) {
	if c.ClientID == app.ClientID || slices.Contains(c.Audience, app.ProjectID) {
		return true, nil
	}
	if g.Resources == nil {
		return false, nil
	}
	for _, aud := range c.Audience {
		if client.CheckResourceURI(aud) != nil {
			continue
		}
		res, err := g.Resources.Resource(ctx, instanceID, aud)
		if failure.Is(err, failure.KindNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if res.ProjectID == app.ProjectID {
			return true, nil
		}
	}
	return false, nil
}

// narrowScopes returns the scopes of an exchanged token: the requested
// ones, each held by the subject token, or all of the subject token's.
func narrowScopes(requested string, held []string) ([]string, error) {
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return held, nil
	}
	var out []string
	for _, s := range fields {
		if !slices.Contains(held, s) {
			return nil, oauth.Errorf(oauth.InvalidScope, "scope %.80q is not held by the subject_token", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// mayAct applies the subject token's may_act claim (RFC 8693 section
// 4.4), when it has one: the actor must be the party it names — its sub,
// and the client its actor token was issued to when may_act names one.
// An impersonation (actor nil) hides who acts, so it is refused: a
// subject that names who may act for it is acted for by delegation only.
// A refusal is invalid_request (section 2.2.2: the actor_token is not
// acceptable by policy), like every other refused token.
func mayAct(m *oauth.MayAct, actor *token.AccessClaims) error {
	switch {
	case m == nil:
		return nil
	case actor == nil:
		return invalidRequest("the subject_token names who may act for its subject (may_act): impersonation is refused, give that party's actor_token")
	case actor.Subject != m.Subject || m.ClientID != "" && actor.ClientID != m.ClientID:
		return invalidRequest("the actor_token's party is not the one the subject_token's may_act allows to act for its subject")
	}
	return nil
}

// depth counts the actors of a nested act claim.
func depth(a *token.Actor) int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}
