package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
)

// The signing algorithms of web keys (RFC 7518, RFC 8037).
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// Algorithms lists the algorithms a key set may hold; DefaultAlgorithm
// signs access tokens.
var Algorithms = []string{ES256, RS256, EdDSA}

// DefaultAlgorithm signs access tokens.
const DefaultAlgorithm = ES256

// DefaultIDTokenAlgorithm signs ID tokens: RS256, which every OpenID
// Connect client must support (OIDC Core section 3.1.3.7).
const DefaultIDTokenAlgorithm = RS256

// rsaBits is the modulus of generated RS256 keys.
const rsaBits = 2048

// KeySetMaxAge is how long a client may cache the key set (the JWKS
// response's Cache-Control max-age). A next key must have been published
// at least this long before Rotate makes it sign, so that every client
// that cached the set since holds it.
const KeySetMaxAge = 5 * time.Minute

// cacheTTL is how long a replica uses a signing key or key set it read
// before reading again: a rotation made on another replica signs here at
// most this much later (the key it replaces stays published as retired).
const cacheTTL = 10 * time.Second

// Sealer seals private keys at rest (keyring.Ring).
type Sealer interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// WebKey is a published key of an instance.
type WebKey struct {
	ID        string
	Algorithm string
	// State is StateNext, StateCurrent or StateRetired.
	State     string
	Public    jose.JSONWebKey
	CreatedAt time.Time
	// ActivatedAt is zero for a next key; RetiredAt unless retired.
	ActivatedAt time.Time
	RetiredAt   time.Time
}

// Keys manages the signing keys of every instance: it creates an
// instance's keys of an algorithm at first use, rotates them on command,
// and hands out the current key as a Signer. It is safe for concurrent use.
type Keys struct {
	store *eventstore.Store
	ring  Sealer
	now   func() time.Time

	mu      sync.Mutex
	signers map[string]cachedSigner // instance "/" alg
	sets    map[string]cachedSet    // instance
}

type cachedSigner struct {
	signer *Signer
	until  time.Time
}

type cachedSet struct {
	keys  []WebKey
	until time.Time
}

// NewKeys returns the key manager; now may be nil (time.Now).
func NewKeys(store *eventstore.Store, ring Sealer, now func() time.Time) *Keys {
	if now == nil {
		now = time.Now
	}
	return &Keys{store: store, ring: ring, now: now, signers: map[string]cachedSigner{}, sets: map[string]cachedSet{}}
}

func sealingContext(instanceID, keyID string) []byte {
	return []byte("castellan/web_key/" + instanceID + "/" + keyID)
}

// Signer returns the current key of alg in the instance, creating the
// instance's keys of alg (a current and a next key) at first use.
func (k *Keys) Signer(ctx context.Context, instanceID, alg string) (*Signer, error) {
	cacheKey := instanceID + "/" + alg
	now := k.now()
	k.mu.Lock()
	c, ok := k.signers[cacheKey]
	k.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.signer, nil
	}
	s, err := k.loadSigner(ctx, instanceID, alg)
	if failure.Is(err, failure.KindNotFound) {
		if err := k.initialize(ctx, instanceID, alg); err != nil {
			return nil, err
		}
		s, err = k.loadSigner(ctx, instanceID, alg)
	}
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.signers[cacheKey] = cachedSigner{signer: s, until: now.Add(cacheTTL)}
	k.mu.Unlock()
	return s, nil
}

func (k *Keys) loadSigner(ctx context.Context, instanceID, alg string) (*Signer, error) {
	if !slices.Contains(Algorithms, alg) {
		return nil, failure.InvalidArgument("algorithm", "%.20q is not a signing algorithm; want one of %v", alg, Algorithms)
	}
	var keyID string
	var sealed []byte
	err := k.store.DB().Reader().QueryRowContext(ctx, `SELECT key_id, private_sealed FROM web_keys WHERE instance_id = $1 AND algorithm = $2 AND state = $3`,
		instanceID, alg, StateCurrent).Scan(&keyID, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, failure.NotFound("instance %s has no %s key", instanceID, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("token: signing key: %w", err)
	}
	der, err := k.ring.Decrypt(sealed, sealingContext(instanceID, keyID))
	if err != nil {
		return nil, fmt.Errorf("token: open signing key %s: %w", keyID, err)
	}
	private, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("token: signing key %s: %w", keyID, err)
	}
	signer, ok := private.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("token: signing key %s is a %T", keyID, private)
	}
	return newSigner(keyID, alg, signer)
}

// PublishedAtFirstUse are the algorithms whose keys PublicKeys creates
// when the instance has none: every algorithm a token may be signed with,
// so that a client that fetched the key set once knows the key of any
// token it will be given.
var PublishedAtFirstUse = []string{DefaultAlgorithm, DefaultIDTokenAlgorithm, EdDSA}

// PublicKeys returns the instance's published keys — next, current and
// retired, of every algorithm — creating the keys of PublishedAtFirstUse
// at first use, so that the next key is published before anything is
// signed.
func (k *Keys) PublicKeys(ctx context.Context, instanceID string) ([]WebKey, error) {
	now := k.now()
	k.mu.Lock()
	c, ok := k.sets[instanceID]
	k.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.keys, nil
	}
	keys, err := k.List(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	for _, alg := range PublishedAtFirstUse {
		if slices.ContainsFunc(keys, func(w WebKey) bool { return w.Algorithm == alg }) {
			continue
		}
		if err := k.initialize(ctx, instanceID, alg); err != nil {
			return nil, err
		}
		if keys, err = k.List(ctx, instanceID); err != nil {
			return nil, err
		}
	}
	k.mu.Lock()
	k.sets[instanceID] = cachedSet{keys: keys, until: now.Add(cacheTTL)}
	k.mu.Unlock()
	return keys, nil
}

// Key returns a published key by id for verifying a signature, or
// failure.NotFound.
func (k *Keys) Key(ctx context.Context, instanceID, keyID string) (WebKey, error) {
	keys, err := k.PublicKeys(ctx, instanceID)
	if err != nil {
		return WebKey{}, err
	}
	for _, w := range keys {
		if w.ID == keyID {
			return w, nil
		}
	}
	return WebKey{}, failure.NotFound("no key %.64q", keyID)
}

// List reads the instance's keys from the read model, oldest first.
func (k *Keys) List(ctx context.Context, instanceID string) ([]WebKey, error) {
	rows, err := k.store.DB().Reader().QueryContext(ctx, `SELECT key_id, algorithm, state, public_jwk, created_at, COALESCE(activated_at, 0), COALESCE(retired_at, 0)
FROM web_keys WHERE instance_id = $1 ORDER BY created_at, key_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("token: list keys: %w", err)
	}
	defer rows.Close()
	var keys []WebKey
	for rows.Next() {
		var w WebKey
		var jwk string
		var created, activated, retired int64
		if err := rows.Scan(&w.ID, &w.Algorithm, &w.State, &jwk, &created, &activated, &retired); err != nil {
			return nil, fmt.Errorf("token: list keys: %w", err)
		}
		if err := w.Public.UnmarshalJSON([]byte(jwk)); err != nil {
			return nil, fmt.Errorf("token: key %s: %w", w.ID, err)
		}
		w.CreatedAt = time.Unix(created, 0).UTC()
		if activated != 0 {
			w.ActivatedAt = time.Unix(activated, 0).UTC()
		}
		if retired != 0 {
			w.RetiredAt = time.Unix(retired, 0).UTC()
		}
		keys = append(keys, w)
	}
	return keys, rows.Err()
}

// Scheduled rotation: a current key signs for KeyLifetime, then the next
// key (published since the last rotation, long before its max-age) takes
// over; a retired key stays published for RetiredKept, longer than any
// token it signed lives (the longest configurable token lifetime is the
// refresh token's, which is not a JWT; access and ID tokens live at most
// days).
const (
	KeyLifetime = 90 * 24 * time.Hour
	RetiredKept = 30 * 24 * time.Hour
)

// RotateDue rotates the keys of every algorithm of the instance whose
// current key has signed for lifetime (activation, or creation for a
// first key), and returns the algorithms rotated.
func (k *Keys) RotateDue(ctx context.Context, editor eventstore.Editor, instanceID string, lifetime, keepRetired time.Duration) ([]string, error) {
	keys, err := k.List(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	now := k.now()
	var rotated []string
	for _, w := range keys {
		if w.State != StateCurrent {
			continue
		}
		since := w.ActivatedAt
		if since.IsZero() {
			since = w.CreatedAt
		}
		if now.Sub(since) < lifetime {
			continue
		}
		if err := k.Rotate(ctx, editor, instanceID, w.Algorithm, keepRetired); err != nil {
			return rotated, err
		}
		rotated = append(rotated, w.Algorithm)
	}
	return rotated, nil
}

// sequence is the key set aggregate's last sequence.
func (k *Keys) sequence(ctx context.Context, instanceID string) (int64, error) {
	events, err := k.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{AggregateType}, AggregateIDs: []string{instanceID}})
	if err != nil || len(events) == 0 {
		return 0, err
	}
	return events[len(events)-1].Sequence, nil
}

func aggregate(instanceID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: instanceID}
}

// initialize creates a current and a next key of alg when the instance has
// no current key of alg. Two replicas doing so at once are serialized by
// the aggregate's sequence: the loser finds the winner's keys.
func (k *Keys) initialize(ctx context.Context, instanceID, alg string) error {
	for range 3 {
		seq, err := k.sequence(ctx, instanceID)
		if err != nil {
			return err
		}
		if _, err := k.loadSigner(ctx, instanceID, alg); err == nil {
			return nil
		}
		first, err := k.newKey(instanceID, alg)
		if err != nil {
			return err
		}
		next, err := k.newKey(instanceID, alg)
		if err != nil {
			return err
		}
		_, err = k.store.Push(ctx, eventstore.SystemEditor, eventstore.Append{Aggregate: aggregate(instanceID), ExpectedSequence: seq,
			Events: []eventstore.Payload{first, &KeyActivated{KeyID: first.KeyID}, next}})
		if !failure.Is(err, failure.KindConflict) {
			k.forget(instanceID)
			return err
		}
	}
	return failure.Conflict("the signing keys of instance %s changed concurrently; try again", instanceID)
}

// Rotate makes the next key of alg the current one, retires the current
// one, publishes a new next key, and removes the keys of alg retired more
// than keepRetired ago (keep them at least as long as the longest lifetime
// of a token they signed). An instance without keys of alg gets its first
// ones. It refuses, with failure.FailedPrecondition, to activate a next key
// published less than KeySetMaxAge ago: a client that cached the key set
// before might not know it.
func (k *Keys) Rotate(ctx context.Context, editor eventstore.Editor, instanceID, alg string, keepRetired time.Duration) error {
	if !slices.Contains(Algorithms, alg) {
		return failure.InvalidArgument("algorithm", "%.20q is not a signing algorithm; want one of %v", alg, Algorithms)
	}
	seq, err := k.sequence(ctx, instanceID)
	if err != nil {
		return err
	}
	keys, err := k.List(ctx, instanceID)
	if err != nil {
		return err
	}
	var current, next *WebKey
	var expired []string
	now := k.now()
	for i, w := range keys {
		if w.Algorithm != alg {
			continue
		}
		switch w.State {
		case StateCurrent:
			current = &keys[i]
		case StateNext:
			next = &keys[i]
		case StateRetired:
			if now.Sub(w.RetiredAt) > keepRetired {
				expired = append(expired, w.ID)
			}
		}
	}
	if current == nil {
		return k.initialize(ctx, instanceID, alg)
	}
	var events []eventstore.Payload
	if next == nil { // not made by this package, but recoverable: publish one
		added, err := k.newKey(instanceID, alg)
		if err != nil {
			return err
		}
		events = append(events, added)
	} else {
		if published := now.Sub(next.CreatedAt); published < KeySetMaxAge {
			return failure.FailedPrecondition("the next %s key %s was published %s ago; clients may cache the key set for %s, so it may sign from %s on",
				alg, next.ID, published.Truncate(time.Second), KeySetMaxAge, next.CreatedAt.Add(KeySetMaxAge).Format(time.RFC3339))
		}
		added, err := k.newKey(instanceID, alg)
		if err != nil {
			return err
		}
		events = append(events, &KeyActivated{KeyID: next.ID}, added)
	}
	for _, keyID := range expired {
		events = append(events, &KeyRemoved{KeyID: keyID})
	}
	_, err = k.store.Push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID), ExpectedSequence: seq, Events: events})
	k.forget(instanceID)
	return err
}

// forget drops what this replica cached of an instance's keys.
func (k *Keys) forget(instanceID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.sets, instanceID)
	for _, alg := range Algorithms {
		delete(k.signers, instanceID+"/"+alg)
	}
}

// newKey generates a key pair of alg and returns the event that publishes
// it, its private key sealed.
func (k *Keys) newKey(instanceID, alg string) (*KeyAdded, error) {
	var private crypto.Signer
	var err error
	switch alg {
	case ES256:
		private, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		private, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, private, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, failure.InvalidArgument("algorithm", "%.20q is not a signing algorithm; want one of %v", alg, Algorithms)
	}
	if err != nil {
		return nil, fmt.Errorf("token: generate %s key: %w", alg, err)
	}
	keyID := id.New()
	der, err := x509.MarshalPKCS8PrivateKey(private)
	if err != nil {
		return nil, fmt.Errorf("token: encode key: %w", err)
	}
	sealed, err := k.ring.Encrypt(der, sealingContext(instanceID, keyID))
	if err != nil {
		return nil, fmt.Errorf("token: seal key: %w", err)
	}
	public, err := json.Marshal(jose.JSONWebKey{Key: private.Public(), KeyID: keyID, Algorithm: alg, Use: "sig"})
	if err != nil {
		return nil, fmt.Errorf("token: encode public key: %w", err)
	}
	return &KeyAdded{KeyID: keyID, Algorithm: alg, PublicKey: public, PrivateKey: sealed}, nil
}
