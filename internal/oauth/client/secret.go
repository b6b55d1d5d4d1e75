package client

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// SecretPrefix starts every client secret, so that secret scanners can
// recognize one.
const SecretPrefix = "ccs_"

// secretBytes is the entropy of a client secret: 256 bits.
const secretBytes = 32

// hashPurpose names the key derived from the key ring for secret hashes.
const hashPurpose = "castellan/oauth/client-secret/v1"

// KeyDeriver derives keys from the key ring (keyring.Ring).
type KeyDeriver interface {
	CurrentID() string
	DeriveKey(id, purpose string) ([]byte, error)
}

// hasher hashes client secrets. Why a keyed fast hash and not argon2id:
// a client secret is 256 random bits, so no amount of guessing finds it
// from its hash, however fast the hash; a memory-hard hash adds nothing
// to that but costs tens of milliseconds and megabytes per check, which
// would make every client_credentials grant as slow as a password login
// and hand a cheap denial of service to anyone who can post to the token
// endpoint. The key (from the key ring, not in the database) means a
// leaked database alone cannot even confirm a guessed secret; binding the
// instance and client id means a hash cannot be copied to another client.
type hasher struct {
	ring KeyDeriver
	mu   sync.Mutex
	// macs holds, per key ring id, HMACs keyed with the derived key, reset
	// and reused: keying one hashes two blocks and allocates its state.
	macs map[string]*sync.Pool
}

func newHasher(ring KeyDeriver) *hasher { return &hasher{ring: ring, macs: map[string]*sync.Pool{}} }

func (h *hasher) pool(id string) (*sync.Pool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.macs[id]; ok {
		return p, nil
	}
	k, err := h.ring.DeriveKey(id, hashPurpose)
	if err != nil {
		return nil, err
	}
	p := &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}
	h.macs[id] = p
	return p, nil
}

// hash returns HMAC-SHA-256(key, instance NUL clientID NUL secret).
func (h *hasher) hash(keyID, instanceID, clientID, secret string) ([]byte, error) {
	p, err := h.pool(keyID)
	if err != nil {
		return nil, fmt.Errorf("client: secret key: %w", err)
	}
	m := p.Get().(hash.Hash)
	defer p.Put(m)
	m.Reset()
	msg := make([]byte, 0, len(instanceID)+len(clientID)+len(secret)+2)
	msg = append(append(append(append(append(msg, instanceID...), 0), clientID...), 0), secret...)
	m.Write(msg)
	return m.Sum(nil), nil
}

// newSecret returns a fresh client secret: SecretPrefix and 43 characters
// of base64url.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// plausibleSecret reports whether s has the form of a client secret, so
// that anything else is refused before any hashing.
func plausibleSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	return ok && len(rest) == base64.RawURLEncoding.EncodedLen(secretBytes)
}
