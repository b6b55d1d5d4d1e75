package keyring

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// DeriveKey returns a 32-byte key for purpose, derived with HKDF-SHA256
// (RFC 5869) from the ring's key named id ([Ring.CurrentID] for new data).
//
// It serves MACs over data that is handed out rather than stored, such as
// page tokens: each purpose gets an independent key, every replica with the
// same ring derives the same one, a rotation retires it with the key it
// came from, and the AES-GCM keys keep their nonce budget for data at rest.
// purpose names the use, like "castellan/user/search-cursor"; two uses must
// never share one. It fails with an error wrapping [ErrUnknownKey] when the
// ring lacks id.
func (r *Ring) DeriveKey(id, purpose string) ([]byte, error) {
	secret, ok := r.secrets[id]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, id)
	}
	if purpose == "" {
		return nil, fmt.Errorf("keyring: a derived key needs a purpose")
	}
	return hkdf.Key(sha256.New, secret, nil, "castellan/keyring/derive/v1/"+purpose, 32)
}
