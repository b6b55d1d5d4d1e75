package token

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// AccessClaims are the claims of a JWT access token (RFC 9068 section 2.2).
// Sub is the resource owner; for client_credentials, where there is none,
// the client's id (section 2.2: "an identifier the authorization server
// uses to indicate the client application").
type AccessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	ID       string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	// AuthTime and SessionID are set for a user's token (RFC 9068
	// section 2.2.1, OIDC Front-Channel Logout section 3).
	AuthTime  int64  `json:"auth_time,omitempty"`
	SessionID string `json:"sid,omitempty"`
	// Act is the actor of a delegated token (RFC 8693 section 4.1).
	Act *Actor `json:"act,omitempty"`
	// MayAct names the one party that may act for the subject in a token
	// exchange (RFC 8693 section 4.4); nil for any the policy allows.
	MayAct *oauth.MayAct `json:"may_act,omitempty"`
	// Cnf binds a sender-constrained token to a DPoP key (RFC 9449
	// section 6.1) or a certificate (RFC 8705 section 3.1); nil for a
	// bearer token.
	Cnf *oauth.Confirmation `json:"cnf,omitempty"`
	// Extra are further claims — the roles of projects (package project)
	// — that never replace the ones above.
	Extra map[string]any `json:"-"`
}

// Actor is the act claim of a token issued by delegation (RFC 8693
// section 4.1): the party acting for the subject — its sub, and the
// client its token was issued to — and, nested in Act, the actor of the
// token it acted with, if that was itself delegated.
type Actor struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// plainClaims is AccessClaims without its JSON methods.
type plainClaims AccessClaims

// accessClaimNames are the JSON names of AccessClaims' own fields.
var accessClaimNames = map[string]bool{"iss": true, "sub": true, "aud": true, "exp": true, "iat": true, "jti": true, "client_id": true,
	"scope": true, "auth_time": true, "sid": true, "act": true, "cnf": true, "may_act": true}

// MarshalJSON writes the claims and the Extra ones; an Extra claim named
// like one of the token's own is left out.
func (c AccessClaims) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(plainClaims(c))
	if err != nil {
		return nil, err
	}
	return oauth.AddClaims(b, c.Extra, func(k string) bool { return accessClaimNames[k] })
}

// UnmarshalJSON reads the claims, the ones it does not know into Extra.
func (c *AccessClaims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, (*plainClaims)(c)); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, v := range all {
		if accessClaimNames[k] {
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		if c.Extra == nil {
			c.Extra = map[string]any{}
		}
		c.Extra[k] = x
	}
	return nil
}

// Access describes an access token to issue.
type Access struct {
	Issuer   string
	Subject  string
	ClientID string
	Audience []string
	// Scopes are granted scopes, already checked by the grant.
	Scopes   []string
	Lifetime time.Duration
	// ID is the jti; "" for a new one.
	ID string
	// AuthTime and SessionID: a user's sign-in.
	AuthTime  time.Time
	SessionID string
	// Extra are further claims (AccessClaims.Extra).
	Extra map[string]any
	// Act: the actor of a delegated token (RFC 8693); nil for none.
	Act *Actor
	// MayAct: who may act for the subject (RFC 8693 section 4.4); nil for
	// no restriction.
	MayAct *oauth.MayAct
	// Cnf: the key or certificate the token is bound to; nil for a
	// bearer token.
	Cnf *oauth.Confirmation
	// NotAfter, when set, caps the expiry: an exchanged token does not
	// outlive the token it was exchanged for.
	NotAfter time.Time
}

// claims are the claims of an access token a issued at now.
func (a Access) claims(now time.Time) AccessClaims {
	c := AccessClaims{
		Issuer: a.Issuer, Subject: a.Subject, Audience: a.Audience, ClientID: a.ClientID, Scope: strings.Join(a.Scopes, " "),
		IssuedAt: now.Unix(), Expiry: now.Add(a.Lifetime).Unix(), ID: a.ID, SessionID: a.SessionID, Extra: a.Extra, Act: a.Act,
		Cnf: a.Cnf, MayAct: a.MayAct,
	}
	if !a.NotAfter.IsZero() && a.NotAfter.Unix() < c.Expiry {
		c.Expiry = a.NotAfter.Unix()
	}
	if c.ID == "" {
		c.ID = id.New()
	}
	if !a.AuthTime.IsZero() {
		c.AuthTime = a.AuthTime.Unix()
	}
	return c
}

// Tokens mints, verifies and revokes access tokens of every instance.
type Tokens struct {
	keys  *Keys
	store *eventstore.Store
	now   func() time.Time

	// verified remembers JWTs whose signature, typ, key and issuer held
	// (verifiedCache).
	mu       sync.Mutex
	verified map[string]verifiedJWT

	// commits are the opaque tokens' shared transactions.
	commits database.GroupCommit
}

// verifiedCache: a JWT's signature is checked once per replica and
// minute, not at each introspection or userinfo call of the same token —
// a resource server asks about one token many times, and an ES256
// verification costs more than the rest of the request. Its expiry and
// revocation are checked every time; a key removed from the key set stops
// verifying within verifiedTTL. At most verifiedMax tokens are kept; past
// that the cache starts empty again.
const (
	verifiedTTL = time.Minute
	verifiedMax = 10000
)

type verifiedJWT struct {
	c      AccessClaims
	issuer string
	until  time.Time
}

// NewTokens returns the token service; now may be nil (time.Now).
func NewTokens(store *eventstore.Store, keys *Keys, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{keys: keys, store: store, now: now}
}

// Now is the service's clock.
func (t *Tokens) Now() time.Time { return t.now() }

// Keys returns the signing keys the tokens are signed with.
func (t *Tokens) Keys() *Keys { return t.keys }

// IssueJWT signs a JWT access token with the instance's current key of the
// default algorithm. Nothing is written: a JWT access token is checked by
// its signature and expiry, and only a revocation leaves a row.
func (t *Tokens) IssueJWT(ctx context.Context, instanceID string, a Access) (string, AccessClaims, error) {
	signer, err := t.keys.Signer(ctx, instanceID, DefaultAlgorithm)
	if err != nil {
		return "", AccessClaims{}, err
	}
	c := a.claims(t.now())
	raw, err := signer.Sign(TypeAccessToken, c)
	return raw, c, err
}

// verifyAlgorithms are the algorithms a JWT access token may name; "none"
// and the HMAC family are never accepted.
var verifyAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// ErrInactive is the cause of every failure of VerifyJWT: the token is not
// an active access token of this instance, for whatever reason.
var ErrInactive = errors.New("token: not an active access token")

func inactive(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInactive}, args...)...)
}

// VerifyJWT checks a JWT access token of the instance: its typ (at+jwt),
// its signature by a published key of the instance with that key's
// algorithm, its issuer, its expiry, and that it was not revoked. Any
// failure wraps ErrInactive, except a failure to read the database.
func (t *Tokens) VerifyJWT(ctx context.Context, instanceID, issuer, raw string) (AccessClaims, error) {
	key := instanceID + "\x00" + raw
	now := t.now()
	t.mu.Lock()
	v, ok := t.verified[key]
	t.mu.Unlock()
	if ok && v.issuer == issuer && now.Before(v.until) {
		return t.checkLive(ctx, instanceID, v.c)
	}
	c, err := t.verifyJWT(ctx, instanceID, issuer, raw)
	if err != nil {
		return AccessClaims{}, err
	}
	t.mu.Lock()
	if t.verified == nil || len(t.verified) >= verifiedMax {
		t.verified = map[string]verifiedJWT{}
	}
	t.verified[key] = verifiedJWT{c: c, issuer: issuer, until: now.Add(verifiedTTL)}
	t.mu.Unlock()
	return t.checkLive(ctx, instanceID, c)
}

// checkLive checks what may change after a token was issued and
// verified: its expiry and its revocation (JWT and opaque alike).
func (t *Tokens) checkLive(ctx context.Context, instanceID string, c AccessClaims) (AccessClaims, error) {
	if !t.now().Before(time.Unix(c.Expiry, 0)) {
		return AccessClaims{}, inactive("expired")
	}
	revoked, err := t.Revoked(ctx, instanceID, c.ID)
	if err != nil {
		return AccessClaims{}, err
	}
	if revoked {
		return AccessClaims{}, inactive("revoked")
	}
	return c, nil
}

// verifyJWT checks what never changes: the typ, the signature by a
// published key with its algorithm, the issuer, and the claims present.
func (t *Tokens) verifyJWT(ctx context.Context, instanceID, issuer, raw string) (AccessClaims, error) {
	tok, err := jwt.ParseSigned(raw, verifyAlgorithms)
	if err != nil {
		return AccessClaims{}, inactive("%v", err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, TypeAccessToken) && !strings.EqualFold(typ, "application/"+TypeAccessToken) {
		return AccessClaims{}, inactive("typ %q", typ)
	}
	key, err := t.keys.Key(ctx, instanceID, h.KeyID)
	if failure.Is(err, failure.KindNotFound) {
		return AccessClaims{}, inactive("unknown key")
	}
	if err != nil {
		return AccessClaims{}, err
	}
	if key.Algorithm != h.Algorithm {
		return AccessClaims{}, inactive("key %s signs %s, not %s", key.ID, key.Algorithm, h.Algorithm)
	}
	var c AccessClaims
	if err := tok.Claims(key.Public.Key, &c); err != nil {
		return AccessClaims{}, inactive("%v", err)
	}
	if c.Issuer != issuer {
		return AccessClaims{}, inactive("issuer %q", c.Issuer)
	}
	if c.ID == "" || c.ClientID == "" {
		return AccessClaims{}, inactive("no jti or client_id")
	}
	return c, nil
}

// Revoked reports whether the token with jti was revoked (and is not yet
// expired).
func (t *Tokens) Revoked(ctx context.Context, instanceID, jti string) (bool, error) {
	var one int
	err := t.store.DB().ReadQueryRow(ctx, `SELECT 1 FROM revoked_tokens WHERE instance_id = $1 AND token_id = $2`, instanceID, jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("token: revocation: %w", err)
	}
	return true, nil
}

// RevokedTokenAggregate is the aggregate type of a revoked token's event;
// its id is the token's jti, so revoking one token twice appends once.
const RevokedTokenAggregate = "access_token"

// Revoke records that the access token c is revoked, as an event on its
// own aggregate (owner: the client's organization); its jti is kept in
// revoked_tokens until the token expires. Revoking a token again changes
// nothing. The tokens exchanged from it (RFC 8693: it was their subject or
// actor token), and the ones exchanged from those, are revoked with it
// (revokeExchanged).
func (t *Tokens) Revoke(ctx context.Context, editor eventstore.Editor, instanceID, ownerOrg string, c AccessClaims) error {
	if err := t.revokeOne(ctx, editor, instanceID, ownerOrg, c.ID, c.ClientID, c.Expiry); err != nil {
		return err
	}
	return t.revokeExchanged(ctx, editor, instanceID, c.ID)
}

func (t *Tokens) revokeOne(ctx context.Context, editor eventstore.Editor, instanceID, ownerOrg, jti, clientID string, expiry int64) error {
	_, err := t.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: instanceID, Type: RevokedTokenAggregate, ID: jti, Owner: ownerOrg},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{&Revoked{TokenID: jti, ClientID: clientID, ExpiresAt: expiry}},
	})
	if failure.Is(err, failure.KindConflict) {
		return nil
	}
	return err
}

// maxExchangedRevoked bounds how many tokens one revocation reaches
// through exchanges.
const maxExchangedRevoked = 10000

// revokeExchanged revokes the live tokens exchanged from the token jti,
// breadth first through further exchanges, each once. A descendant
// already revoked is passed through (its own descendants are looked at
// again: a revocation that failed halfway is finished by the next).
func (t *Tokens) revokeExchanged(ctx context.Context, editor eventstore.Editor, instanceID, jti string) error {
	seen := map[string]bool{jti: true}
	queue := []string{jti}
	for len(queue) > 0 && len(seen) <= maxExchangedRevoked {
		parent := queue[0]
		queue = queue[1:]
		rows, err := t.store.DB().Reader().QueryContext(ctx, `SELECT token_id, client_id, owner_org, expires_at FROM exchanged_tokens
WHERE instance_id = $1 AND parent_id = $2 AND expires_at >= $3`, instanceID, parent, t.now().Unix())
		if err != nil {
			return fmt.Errorf("token: exchanged tokens: %w", err)
		}
		type child struct {
			id, client, org string
			exp             int64
		}
		var children []child
		for rows.Next() {
			var c child
			if err := rows.Scan(&c.id, &c.client, &c.org, &c.exp); err != nil {
				rows.Close()
				return fmt.Errorf("token: exchanged tokens: %w", err)
			}
			children = append(children, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("token: exchanged tokens: %w", err)
		}
		for _, c := range children {
			if seen[c.id] {
				continue
			}
			seen[c.id] = true
			if err := t.revokeOne(ctx, editor, instanceID, c.org, c.id, c.client, c.exp); err != nil {
				return err
			}
			queue = append(queue, c.id)
		}
	}
	return nil
}
