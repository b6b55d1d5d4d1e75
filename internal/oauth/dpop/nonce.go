package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// KeyDeriver derives MAC keys from the key ring (keyring.Ring).
type KeyDeriver interface {
	CurrentID() string
	DeriveKey(id, purpose string) ([]byte, error)
}

// NonceWindow is how long a server nonce is handed out; a nonce is
// accepted in its window and the next one, so for NonceWindow to twice
// that.
const NonceWindow = 5 * time.Minute

// noncePurpose names the key ring key of nonces (keyring.Ring.DeriveKey).
const noncePurpose = "castellan/oauth/dpop-nonce"

// Nonces makes and checks the server nonces of RFC 9449 section 8 without
// state: a nonce is the ring key's id, the number of its time window and
// an HMAC-SHA-256 of both and the instance, truncated to 128 bits. Every
// replica with the same key ring accepts the nonces of every other, a
// nonce of one instance is refused by another, and a rotation of the key
// ring retires the nonces with the key. A nonce may be used by many
// proofs within its lifetime: it bounds how long ahead of time a proof
// can be made, while the jti store refuses a proof used twice.
type Nonces struct {
	ring KeyDeriver
	now  func() time.Time

	mu   sync.Mutex
	keys map[string][]byte
}

// NewNonces returns the nonces of ring; now may be nil (time.Now).
func NewNonces(ring KeyDeriver, now func() time.Time) *Nonces {
	if now == nil {
		now = time.Now
	}
	return &Nonces{ring: ring, now: now, keys: map[string][]byte{}}
}

func (n *Nonces) key(id string) ([]byte, error) {
	n.mu.Lock()
	k, ok := n.keys[id]
	n.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := n.ring.DeriveKey(id, noncePurpose)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if len(n.keys) > 64 {
		n.keys = map[string][]byte{}
	}
	n.keys[id] = k
	n.mu.Unlock()
	return k, nil
}

func nonceMAC(key []byte, instanceID string, window uint64) []byte {
	m := hmac.New(sha256.New, key)
	var w [8]byte
	binary.BigEndian.PutUint64(w[:], window)
	m.Write(w[:])
	m.Write([]byte(instanceID))
	return m.Sum(nil)[:16]
}

func (n *Nonces) window() uint64 { return uint64(n.now().Unix()) / uint64(NonceWindow/time.Second) }

// Issue returns the nonce of the current window for an instance.
func (n *Nonces) Issue(instanceID string) (string, error) {
	id := n.ring.CurrentID()
	key, err := n.key(id)
	if err != nil {
		return "", err
	}
	w := n.window()
	b := binary.BigEndian.AppendUint64(nil, w)
	b = append(b, nonceMAC(key, instanceID, w)...)
	return base64.RawURLEncoding.EncodeToString([]byte(id)) + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

// Valid reports whether nonce is a nonce of the instance's current or
// previous window.
func (n *Nonces) Valid(instanceID, nonce string) bool {
	if len(nonce) > maxNonce {
		return false
	}
	encID, encBody, ok := strings.Cut(nonce, ".")
	if !ok {
		return false
	}
	id, err := base64.RawURLEncoding.DecodeString(encID)
	if err != nil {
		return false
	}
	body, err := base64.RawURLEncoding.DecodeString(encBody)
	if err != nil || len(body) != 8+16 {
		return false
	}
	w, cur := binary.BigEndian.Uint64(body[:8]), n.window()
	if w != cur && w+1 != cur {
		return false
	}
	key, err := n.key(string(id))
	if err != nil {
		return false
	}
	return hmac.Equal(body[8:], nonceMAC(key, instanceID, w))
}
