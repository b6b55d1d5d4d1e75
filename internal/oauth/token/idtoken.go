package token

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"maps"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
)

// IDToken describes an ID token to issue (OIDC Core section 2).
type IDToken struct {
	Issuer, Subject, Audience string
	Nonce                     string
	AuthTime                  time.Time
	AMR                       []string
	SessionID                 string
	// AccessToken, when one is issued with it, gives at_hash.
	AccessToken string
	Lifetime    time.Duration
	// Algorithm signs it: DefaultIDTokenAlgorithm when "".
	Algorithm string
	// Claims are the user's claims the scopes ask for; they never
	// replace the protocol claims above.
	Claims map[string]any
}

// protocolClaims are the claims of an ID token that only the protocol
// sets: a user's claims never carry them, even where the protocol leaves
// them out (no nonce, no session).
var protocolClaims = []string{"iss", "sub", "aud", "azp", "iat", "exp", "nbf", "jti", "auth_time", "nonce", "amr", "acr", "sid", "at_hash", "c_hash", "events", "cnf"}

// IssueIDToken signs an ID token with the instance's current key of
// in.Algorithm (RS256 unless the client chose another) and returns it.
func (t *Tokens) IssueIDToken(ctx context.Context, instanceID string, in IDToken) (string, error) {
	alg := in.Algorithm
	if alg == "" {
		alg = DefaultIDTokenAlgorithm
	}
	signer, err := t.keys.Signer(ctx, instanceID, alg)
	if err != nil {
		return "", err
	}
	now := t.now()
	c := maps.Clone(in.Claims)
	if c == nil {
		c = map[string]any{}
	}
	for _, k := range protocolClaims {
		delete(c, k)
	}
	c["iss"], c["sub"], c["aud"], c["azp"] = in.Issuer, in.Subject, in.Audience, in.Audience
	c["iat"], c["exp"] = now.Unix(), now.Add(in.Lifetime).Unix()
	if !in.AuthTime.IsZero() {
		c["auth_time"] = in.AuthTime.Unix()
	}
	if in.Nonce != "" {
		c["nonce"] = in.Nonce
	}
	if len(in.AMR) > 0 {
		c["amr"] = in.AMR
	}
	if in.SessionID != "" {
		c["sid"] = in.SessionID
	}
	if in.AccessToken != "" {
		c["at_hash"] = halfHashFor(alg, in.AccessToken)
	}
	return signer.Sign(TypeJWT, c)
}

// halfHashFor is the at_hash of s for a token signed with alg: SHA-512
// for EdDSA (Ed25519's hash), SHA-256 otherwise.
func halfHashFor(alg, s string) string {
	if alg == EdDSA {
		sum := sha512.Sum512([]byte(s))
		return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	}
	return HalfHash(s)
}

// HalfHash is the base64url of the left half of the SHA-256 of s: the
// at_hash of a token signed with RS256 or ES256 (OIDC Core section
// 3.1.3.6).
func HalfHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// HintClaims are what an id_token_hint tells: who, for which client, in
// which session.
type HintClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	SessionID string           `json:"sid"`
	Expiry    *jwt.NumericDate `json:"exp"`
}

// VerifyIDTokenHint checks an ID token the provider issued, given back as
// a hint (RP-Initiated Logout 1.0 section 2): its signature by a published
// key of the instance with that key's algorithm, and its issuer. An
// expired one is accepted, as the specification asks: the hint names a
// session, it authorizes nothing. Any failure wraps ErrInactive.
func (t *Tokens) VerifyIDTokenHint(ctx context.Context, instanceID, issuer, raw string) (HintClaims, error) {
	if len(raw) > 16<<10 {
		return HintClaims{}, inactive("too long")
	}
	tok, err := jwt.ParseSigned(raw, verifyAlgorithms)
	if err != nil {
		return HintClaims{}, inactive("%v", err)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "" && !strings.EqualFold(typ, TypeJWT) {
		return HintClaims{}, inactive("typ %q", typ)
	}
	key, err := t.keys.Key(ctx, instanceID, h.KeyID)
	if failure.Is(err, failure.KindNotFound) {
		return HintClaims{}, inactive("unknown key")
	}
	if err != nil {
		return HintClaims{}, err
	}
	if key.Algorithm != h.Algorithm {
		return HintClaims{}, inactive("key %s signs %s, not %s", key.ID, key.Algorithm, h.Algorithm)
	}
	var c HintClaims
	if err := tok.Claims(key.Public.Key, &c); err != nil {
		return HintClaims{}, inactive("%v", err)
	}
	if c.Issuer != issuer || c.Subject == "" || len(c.Audience) != 1 {
		return HintClaims{}, inactive("issuer %q, subject %q, audience %v", c.Issuer, c.Subject, c.Audience)
	}
	return c, nil
}

// TypeLogoutToken marks a logout token (OIDC Back-Channel Logout 1.0
// section 2.4).
const TypeLogoutToken = "logout+jwt"

// backchannelLogoutEvent is the event member of a logout token.
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// IssueLogoutToken signs a logout token for a client: a session of the
// user subject ended. It is signed like the client's ID tokens (alg, ""
// for the default) and lives two minutes.
func (t *Tokens) IssueLogoutToken(ctx context.Context, instanceID, issuer, alg, clientID, subject, sessionID string) (string, error) {
	if alg == "" {
		alg = DefaultIDTokenAlgorithm
	}
	signer, err := t.keys.Signer(ctx, instanceID, alg)
	if err != nil {
		return "", err
	}
	now := t.now()
	c := map[string]any{
		"iss": issuer, "aud": clientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(), "jti": id.New(),
		"sub": subject, "events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	}
	if sessionID != "" {
		c["sid"] = sessionID
	}
	return signer.Sign(TypeLogoutToken, c)
}
