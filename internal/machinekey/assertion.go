package machinekey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// JWT bearer assertions (RFC 7523 sections 2.1 and 3): a machine proves
// itself with a JWT it signed with one of its keys. The header's kid is
// the key id Castellan assigned, its alg the key's algorithm (never none,
// never HMAC); iss and sub are the user id of the key's owner; aud names
// the issuer or the token endpoint; exp is at most MaxAssertionLifetime
// ahead; jti is required and accepted once: it is remembered until the
// assertion expires.

// Limits of an assertion.
const (
	maxAssertionBytes = 8 << 10
	maxJTI            = 200
	// MaxAssertionLifetime bounds how far ahead an assertion's exp may
	// be, and so how long its jti is remembered.
	MaxAssertionLifetime = time.Hour
	// AssertionLeeway is the clock skew allowed on exp, nbf and iat.
	AssertionLeeway = 30 * time.Second
)

// ErrInvalidAssertion is the cause of every refused assertion; its text
// says why (for the log, not for the machine: RFC 7523 section 3.1 says
// invalid_grant, and nothing more is needed to fix a well-made client).
var ErrInvalidAssertion = errors.New("machinekey: invalid assertion")

func invalidAssertion(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidAssertion}, args...)...)
}

// assertionAlgorithms are the algorithms a machine key signs with.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.ES384, jose.EdDSA}

// Assertions verifies JWT bearer assertions against the registered keys.
// It is safe for concurrent use.
type Assertions struct {
	db  *database.DB
	now func() time.Time
}

// NewAssertions returns the verifier; now may be nil (time.Now).
func NewAssertions(db *database.DB, now func() time.Time) *Assertions {
	if now == nil {
		now = time.Now
	}
	return &Assertions{db: db, now: now}
}

// Verify checks an assertion of the instance, whose aud must name one of
// audiences, and returns the key that signed it (its UserID is the
// machine). A refused assertion wraps ErrInvalidAssertion; any other error
// is the database's. A valid assertion's jti is spent: presenting it again
// is refused.
func (a *Assertions) Verify(ctx context.Context, instanceID, raw string, audiences []string) (Key, error) {
	if len(raw) > maxAssertionBytes {
		return Key{}, invalidAssertion("longer than %d bytes", maxAssertionBytes)
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil {
		return Key{}, invalidAssertion("%v", err)
	}
	h := tok.Headers[0]
	if h.KeyID == "" {
		return Key{}, invalidAssertion("no kid")
	}
	key, err := Get(ctx, a.db, instanceID, h.KeyID)
	if failure.Is(err, failure.KindNotFound) {
		return Key{}, invalidAssertion("unknown key %.64q", h.KeyID)
	}
	if err != nil {
		return Key{}, err
	}
	if key.Algorithm != h.Algorithm {
		return Key{}, invalidAssertion("key %s signs %s, not %.20s", key.ID, key.Algorithm, h.Algorithm)
	}
	now := a.now()
	if err := key.Usable(now); err != nil {
		return Key{}, invalidAssertion("%v", err)
	}
	var c jwt.Claims
	if err := tok.Claims(key.PublicKey, &c); err != nil {
		return Key{}, invalidAssertion("signature: %v", err)
	}
	if err := checkAssertionClaims(c, key.UserID, audiences, now); err != nil {
		return Key{}, err
	}
	fresh, err := a.remember(ctx, instanceID, key.UserID, c.ID, c.Expiry.Time().Add(AssertionLeeway))
	if err != nil {
		return Key{}, err
	}
	if !fresh {
		return Key{}, invalidAssertion("jti %.64q was used before (replay)", c.ID)
	}
	return key, nil
}

// checkAssertionClaims checks the claims of a signed assertion of
// userID's key at now.
func checkAssertionClaims(c jwt.Claims, userID string, audiences []string, now time.Time) error {
	switch {
	case c.Issuer != userID || c.Subject != userID:
		return invalidAssertion("iss and sub must be the key's user id")
	case !slices.ContainsFunc(audiences, c.Audience.Contains):
		return invalidAssertion("aud names neither the issuer nor the token endpoint")
	case c.Expiry == nil:
		return invalidAssertion("no exp")
	case c.ID == "" || len(c.ID) > maxJTI:
		return invalidAssertion("jti is required, at most %d bytes", maxJTI)
	case !now.Before(c.Expiry.Time().Add(AssertionLeeway)):
		return invalidAssertion("expired")
	case c.Expiry.Time().After(now.Add(MaxAssertionLifetime + AssertionLeeway)):
		return invalidAssertion("exp is more than %s ahead", MaxAssertionLifetime)
	case c.NotBefore != nil && now.Add(AssertionLeeway).Before(c.NotBefore.Time()):
		return invalidAssertion("not valid yet (nbf)")
	case c.IssuedAt != nil && now.Add(AssertionLeeway).Before(c.IssuedAt.Time()):
		return invalidAssertion("issued in the future (iat)")
	}
	return nil
}

// remember records a jti of a user's assertion until expires; false when
// it was recorded before.
func (a *Assertions) remember(ctx context.Context, instanceID, userID, jti string, expires time.Time) (bool, error) {
	var fresh bool
	err := a.db.InTx(ctx, func(tx *database.Tx) error {
		var err error
		fresh, err = database.OneRow(tx.ExecContext(ctx, `INSERT INTO machine_key_assertions (instance_id, user_id, jti, expires_at) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING`, instanceID, userID, jti, expires.Unix()))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("machinekey: assertion jti: %w", err)
	}
	return fresh, nil
}

// SweepAssertions deletes the jti of expired assertions.
func SweepAssertions(ctx context.Context, db *database.DB, now time.Time) error {
	return db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM machine_key_assertions WHERE expires_at < $1`, now.Unix())
		return err
	})
}
