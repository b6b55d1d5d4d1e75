package dpop

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth"
)

// Replayer remembers the proofs seen (Replays).
type Replayer interface {
	// Remember records a proof until expires and reports whether it was
	// not seen before; an error only for a failure of the store.
	Remember(ctx context.Context, instanceID, jkt, jti string, expires time.Time) (bool, error)
}

// Checker checks proofs entirely: Parse, then the server nonce when one is
// required, then that the proof was not used before. The order matters: a
// proof refused for its nonce or its claims is not remembered, so only
// proofs that would otherwise be accepted take room in the store.
type Checker struct {
	Nonces  *Nonces
	Replays Replayer
	// Now may be nil (time.Now).
	Now func() time.Time
}

func (c *Checker) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Check checks the proof raw for a request to t of an instance. When
// nonceRequired, a proof without a valid nonce of the instance is refused
// with use_dpop_nonce (the caller sends a fresh one, NonceFor). Errors for
// the client are *oauth.Error; any other is the store's.
func (c *Checker) Check(ctx context.Context, instanceID, raw string, t Target, nonceRequired bool) (Proof, error) {
	p, err := Parse(raw, t, c.now())
	if err != nil {
		return Proof{}, err
	}
	if nonceRequired {
		if p.Nonce == "" {
			return Proof{}, oauth.Errorf(UseNonce, "the authorization server requires a nonce in the DPoP proof")
		}
		if !c.Nonces.Valid(instanceID, p.Nonce) {
			return Proof{}, oauth.Errorf(UseNonce, "the DPoP proof's nonce is unknown or expired")
		}
	} else if p.Nonce != "" && !c.Nonces.Valid(instanceID, p.Nonce) {
		// A nonce the server never gave, or an old one: the client is
		// told the current one rather than refused outright, as for a
		// required nonce.
		return Proof{}, oauth.Errorf(UseNonce, "the DPoP proof's nonce is unknown or expired")
	}
	fresh, err := c.Replays.Remember(ctx, instanceID, p.JKT, p.JTI, p.IssuedAt.Add(Lifetime+Skew))
	if err != nil {
		return Proof{}, err
	}
	if !fresh {
		return Proof{}, invalid("the DPoP proof was used before (jti replayed)")
	}
	return p, nil
}

// NonceFor returns the current nonce of an instance, for the DPoP-Nonce
// header.
func (c *Checker) NonceFor(instanceID string) (string, error) { return c.Nonces.Issue(instanceID) }
