package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// private_key_jwt (RFC 7523 section 2.2, OIDC Core section 9): a client
// authenticates with a JWT it signed with one of the keys it registered
// (a JWK Set of public keys), whose iss and sub are its client id, whose
// aud is the issuer or the endpoint's URL, which expires within
// maxAssertionLifetime, and whose jti it never used before: each jti is
// kept until the assertion expires, and a replay is invalid_client.

// Limits of a registered key set and of an assertion.
const (
	maxJWKSBytes         = 32 << 10
	maxJWKSKeys          = 10
	maxAssertionBytes    = 8 << 10
	maxAssertionLifetime = 10 * time.Minute
	assertionLeeway      = 30 * time.Second
)

// AssertionType is the client_assertion_type of private_key_jwt.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgorithms may sign an assertion: asymmetric only.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA}

// AssertionAlgorithms names the algorithms an assertion may be signed
// with.
func AssertionAlgorithms() []string {
	out := make([]string, len(assertionAlgorithms))
	for i, a := range assertionAlgorithms {
		out[i] = string(a)
	}
	return out
}

// checkJWKS validates the key set a client registers: public signing keys
// only, at most maxJWKSKeys, each with a key id unique in the set.
func checkJWKS(raw []byte) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if len(raw) > maxJWKSBytes {
		return set, failure.InvalidArgument("jwks", "at most %d bytes", maxJWKSBytes)
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return set, failure.InvalidArgument("jwks", "not a JWK Set (RFC 7517 section 5): %v", err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > maxJWKSKeys {
		return set, failure.InvalidArgument("jwks", "must hold 1 to %d keys", maxJWKSKeys)
	}
	seen := map[string]bool{}
	for i, k := range set.Keys {
		if _, ok := k.Key.([]byte); ok {
			return set, failure.InvalidArgument("jwks", "key %d is symmetric; register public keys only", i)
		}
		switch {
		case !k.Valid():
			return set, failure.InvalidArgument("jwks", "key %d is not valid", i)
		case !k.IsPublic():
			return set, failure.InvalidArgument("jwks", "key %d holds private material; register public keys only", i)
		case k.Use != "" && k.Use != "sig":
			return set, failure.InvalidArgument("jwks", "key %d is for %q, not signatures", i, k.Use)
		case seen[k.KeyID]:
			return set, failure.InvalidArgument("jwks", "key id %.40q is given twice", k.KeyID)
		}
		seen[k.KeyID] = true
	}
	return set, nil
}

// Assertions remembers the jti of the assertions clients used, until
// they expire.
type Assertions struct{ db *database.DB }

// remember records an assertion's jti; one used before is an error.
func (a Assertions) remember(ctx context.Context, instanceID, clientID, jti string, expires time.Time) (bool, error) {
	fresh := true
	err := a.db.InTx(ctx, func(tx *database.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO client_assertions (instance_id, client_id, jti, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`, instanceID, clientID, jti, expires.Unix())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}

// SweepAssertions deletes the jti of expired assertions.
func SweepAssertions(ctx context.Context, db *database.DB, now time.Time) error {
	return db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM client_assertions WHERE expires_at < $1`, now.Unix())
		return err
	})
}

// PeekAssertionIssuer returns the unverified iss of an assertion: which
// client to verify it for when the request names none.
func PeekAssertionIssuer(raw string) string {
	if len(raw) > maxAssertionBytes {
		return ""
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil {
		return ""
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if tok.UnsafeClaimsWithoutVerification(&c) != nil {
		return ""
	}
	return c.Issuer
}

// checkAssertion verifies a client assertion for app; audiences are what
// aud may name (the issuer, the endpoint's URL).
func (c *Clients) checkAssertion(ctx context.Context, instanceID string, app Application, raw string, audiences []string) error {
	if app.AuthMethod != oauth.AuthPrivateKeyJWT {
		return invalidClient("the client does not authenticate with private_key_jwt")
	}
	if len(raw) > maxAssertionBytes {
		return invalidClient("the assertion is too long")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil {
		return invalidClient(fmt.Sprintf("assertion: %v", err))
	}
	h := tok.Headers[0]
	var key *jose.JSONWebKey
	for i, k := range app.JWKS.Keys {
		if (h.KeyID == "" || k.KeyID == h.KeyID) && (k.Algorithm == "" || k.Algorithm == h.Algorithm) {
			key = &app.JWKS.Keys[i]
			break
		}
	}
	if key == nil {
		return invalidClient("no registered key for the assertion's kid and alg")
	}
	if app.FAPI {
		var unverified jwt.Claims
		if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
			return invalidClient(fmt.Sprintf("assertion: %v", err))
		}
		if why := fapiAssertion(h.Algorithm, unverified.Audience, audiences); why != "" {
			return invalidClient(why)
		}
	}
	var claims jwt.Claims
	if err := tok.Claims(key.Key, &claims); err != nil {
		return invalidClient(fmt.Sprintf("assertion signature: %v", err))
	}
	now := c.now()
	switch {
	case claims.Issuer != app.ClientID || claims.Subject != app.ClientID:
		return invalidClient("the assertion's iss and sub must be the client id")
	case !slices.ContainsFunc(audiences, claims.Audience.Contains):
		return invalidClient("the assertion's aud names neither the issuer nor the endpoint")
	case claims.Expiry == nil || claims.ID == "" || len(claims.ID) > 200:
		return invalidClient("the assertion needs exp and jti")
	case !now.Before(claims.Expiry.Time().Add(assertionLeeway)):
		return invalidClient("the assertion expired")
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime)):
		return invalidClient("the assertion lives longer than 10 minutes")
	case claims.NotBefore != nil && now.Add(assertionLeeway).Before(claims.NotBefore.Time()):
		return invalidClient("the assertion is not valid yet")
	}
	fresh, err := c.assertions.remember(ctx, instanceID, app.ClientID, claims.ID, claims.Expiry.Time().Add(assertionLeeway))
	if err != nil {
		return err
	}
	if !fresh {
		return &oauth.Error{Code: oauth.InvalidClient, Description: "client authentication failed", Cause: errReplay}
	}
	return nil
}

// errReplay is the cause of an assertion whose jti was used before.
var errReplay = errors.New("client: the assertion's jti was used before (replay)")
