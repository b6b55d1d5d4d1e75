package token

import (
	"encoding/json"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// AggregateType is the aggregate of an instance's signing keys; its id is
// the instance's id.
const AggregateType = "web_keys"

// KeyAdded publishes a new signing key as the next key of its algorithm.
// PrivateKey is its PKCS#8 DER sealed with the key ring (associated data
// sealingContext); PublicKey is its public JWK with kid, alg and use "sig".
type KeyAdded struct {
	KeyID      string          `json:"keyId"`
	Algorithm  string          `json:"algorithm"`
	PublicKey  json.RawMessage `json:"publicKey"`
	PrivateKey []byte          `json:"privateKey"`
}

// KeyActivated makes a key the current key of its algorithm, the one that
// signs; the previous current key of that algorithm is retired (still
// published, never signing).
type KeyActivated struct {
	KeyID string `json:"keyId"`
}

// KeyRemoved takes a retired key out of the key set: tokens it signed no
// longer verify.
type KeyRemoved struct {
	KeyID string `json:"keyId"`
}

func (KeyAdded) EventType() string     { return "web_key.added" }
func (KeyActivated) EventType() string { return "web_key.activated" }
func (KeyRemoved) EventType() string   { return "web_key.removed" }

// Revoked records that a token was revoked (RFC 7009): which token
// (its jti), until when it would have been valid, and which client asked.
// It is appended to the client's application aggregate.
type Revoked struct {
	TokenID   string `json:"tokenId"`
	ClientID  string `json:"clientId"`
	ExpiresAt int64  `json:"expiresAt"`
}

func (Revoked) EventType() string { return "oauth.token.revoked" }

// RegisterEvents adds the signing key and token events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[KeyAdded](r, 1)
	eventstore.Register[KeyActivated](r, 1)
	eventstore.Register[KeyRemoved](r, 1)
	eventstore.Register[Revoked](r, 1)
	eventstore.Register[Exchanged](r, 1)
}
