package machinekey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
)

// Added records a new public key. PublicKey is its JWK (with kid, alg and
// use "sig"); Fingerprint is its RFC 7638 thumbprint, SHA-256, base64url.
type Added struct {
	KeyID       string          `json:"keyId"`
	PublicKey   json.RawMessage `json:"publicKey"`
	Algorithm   string          `json:"algorithm"`
	ExpiresAt   time.Time       `json:"expiresAt"`
	Fingerprint string          `json:"fingerprint"`
}

// Removed deletes a key; signatures made with it are no longer accepted.
type Removed struct {
	KeyID string `json:"keyId"`
}

func (Added) EventType() string   { return "user.machine_key.added" }
func (Removed) EventType() string { return "user.machine_key.removed" }

// RegisterEvents adds the machine key events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[Removed](r, 1)
}

// Key is a registered public key of a user.
type Key struct {
	ID     string
	UserID string
	// Algorithm is the JWS algorithm the key signs with: RS256, ES256,
	// ES384 or EdDSA.
	Algorithm string
	// PublicKey is an *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	PublicKey crypto.PublicKey
	// PublicJWK is the key as a JWK with kid, alg and use.
	PublicJWK json.RawMessage
	// Thumbprint is the RFC 7638 JWK thumbprint, SHA-256, base64url.
	Thumbprint string
	ExpiresAt  time.Time
	CreatedAt  time.Time
}

// Usable reports whether signatures made with the key may be accepted at
// now: an expired key is failure.FailedPrecondition.
func (k Key) Usable(now time.Time) error {
	if !now.Before(k.ExpiresAt) {
		return failure.FailedPrecondition("machine key %s expired at %s", k.ID, k.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

const (
	fieldExpiration = "expireTime"
	fieldAlgorithm  = "algorithm"
	// uniqueThumbprint claims a public key per instance; see the package
	// comment for why removal keeps the claim.
	uniqueThumbprint = "machine_key_thumbprint"
)

// checkExpiry returns the expiry as stored: UTC, to the second.
func checkExpiry(expiresAt, now time.Time) (time.Time, error) {
	if expiresAt.IsZero() {
		return time.Time{}, failure.InvalidArgument(fieldExpiration, "is required")
	}
	expiresAt = expiresAt.UTC().Truncate(time.Second)
	switch {
	case !expiresAt.After(now):
		return time.Time{}, failure.InvalidArgument(fieldExpiration, "must be in the future")
	case expiresAt.After(now.AddDate(10, 0, 0)):
		return time.Time{}, failure.InvalidArgument(fieldExpiration, "must be within ten years")
	}
	return expiresAt, nil
}

// Register returns the append that adds a public key the caller holds — one
// PEM "PUBLIC KEY" block or one JWK — to the user aggregate. Bad keys and
// expiry dates are failure.InvalidArgument naming the field; a key already
// registered in the instance fails at Push with failure.AlreadyExists.
func Register(user eventstore.Aggregate, publicKey []byte, expiresAt, now time.Time) (eventstore.Append, Key, error) {
	expiresAt, err := checkExpiry(expiresAt, now)
	if err != nil {
		return eventstore.Append{}, Key{}, err
	}
	pub, alg, err := parsePublicKey(publicKey)
	if err != nil {
		return eventstore.Append{}, Key{}, err
	}
	a, key, err := add(user, pub, alg, expiresAt, now)
	if err != nil {
		e := invalidKey("is not a usable public key")
		e.Cause = err
		return eventstore.Append{}, Key{}, e
	}
	return a, key, nil
}

// keyFile is the JSON a machine loads to sign its assertions.
type keyFile struct {
	Type      string    `json:"type"`
	KeyID     string    `json:"keyId"`
	Key       string    `json:"key"`
	UserID    string    `json:"userId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Generate makes a key pair for alg (RS256 with a 2048-bit key, ES256,
// ES384 or EdDSA) and returns the append that registers its public key,
// the key, and the private key — as PKCS#8 PEM and as a JSON key file —
// which is shown once and never stored.
func Generate(user eventstore.Aggregate, alg string, expiresAt, now time.Time) (eventstore.Append, Key, []byte, []byte, error) {
	expiresAt, err := checkExpiry(expiresAt, now)
	if err != nil {
		return eventstore.Append{}, Key{}, nil, nil, err
	}
	var private crypto.Signer
	switch alg {
	case RS256:
		private, err = rsa.GenerateKey(rand.Reader, minRSABits)
	case ES256:
		private, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ES384:
		private, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case EdDSA:
		_, private, err = ed25519.GenerateKey(rand.Reader)
	default:
		return eventstore.Append{}, Key{}, nil, nil, failure.InvalidArgument(fieldAlgorithm, "%.20q is not accepted; want one of %v", alg, Algorithms)
	}
	if err != nil {
		return eventstore.Append{}, Key{}, nil, nil, fmt.Errorf("machinekey: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		return eventstore.Append{}, Key{}, nil, nil, fmt.Errorf("machinekey: encode private key: %w", err)
	}
	a, key, err := add(user, private.Public(), alg, expiresAt, now)
	if err != nil {
		return eventstore.Append{}, Key{}, nil, nil, fmt.Errorf("machinekey: %w", err)
	}
	privatePEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	file, err := json.Marshal(keyFile{Type: "serviceaccount", KeyID: key.ID, Key: string(privatePEM), UserID: user.ID, ExpiresAt: key.ExpiresAt})
	if err != nil {
		return eventstore.Append{}, Key{}, nil, nil, fmt.Errorf("machinekey: encode key file: %w", err)
	}
	return a, key, privatePEM, file, nil
}

// add builds the append and key for a checked public key and expiry.
func add(user eventstore.Aggregate, pub crypto.PublicKey, alg string, expiresAt, now time.Time) (eventstore.Append, Key, error) {
	keyID := id.New()
	jwk, thumbprint, err := publicJWK(pub, keyID, alg)
	if err != nil {
		return eventstore.Append{}, Key{}, err
	}
	key := Key{
		ID:         keyID,
		UserID:     user.ID,
		Algorithm:  alg,
		PublicKey:  pub,
		PublicJWK:  jwk,
		Thumbprint: thumbprint,
		ExpiresAt:  expiresAt,
		CreatedAt:  now.UTC().Truncate(time.Second),
	}
	return eventstore.Append{
		Aggregate:        user,
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&Added{KeyID: keyID, PublicKey: jwk, Algorithm: alg, ExpiresAt: expiresAt, Fingerprint: thumbprint}},
		Unique:           []eventstore.Unique{{Kind: uniqueThumbprint, Value: thumbprint, Field: fieldPublicKey}},
	}, key, nil
}

// Remove returns the append that removes a key of the user. The key's
// thumbprint stays claimed: a removed key cannot be registered again.
func Remove(user eventstore.Aggregate, keyID string) eventstore.Append {
	return eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&Removed{KeyID: keyID}}}
}

func encodeThumbprint(sum []byte) string { return base64.RawURLEncoding.EncodeToString(sum) }
