package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Errors returned by [Ring.Decrypt] and [Ring.KeyID]; test with errors.Is.
var (
	// ErrUnknownKey means the ciphertext names a key the ring does not hold,
	// typically a retired key that was dropped too early.
	ErrUnknownKey = errors.New("keyring: unknown key")
	// ErrDecrypt means the ciphertext is malformed, was altered, or was sealed
	// with different associated data.
	ErrDecrypt = errors.New("keyring: cannot decrypt")
)

const (
	formatVersion = 1
	nonceSize     = 12
	tagSize       = 16
)

// Ring seals data under its current key and opens data sealed under any of
// its keys. It is safe for concurrent use.
type Ring struct {
	currentID string
	aeads     map[string]cipher.AEAD
	secrets   map[string][]byte // for DeriveKey
}

// New returns a ring that encrypts under current and decrypts with current
// and every retired key. Keys must be well formed and their IDs distinct.
func New(current Key, retired ...Key) (*Ring, error) {
	r := &Ring{currentID: current.ID, aeads: make(map[string]cipher.AEAD, 1+len(retired)), secrets: make(map[string][]byte, 1+len(retired))}
	for _, k := range append([]Key{current}, retired...) {
		if err := k.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.aeads[k.ID]; dup {
			return nil, fmt.Errorf("keyring: key id %s is used twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %s: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %s: %w", k.ID, err)
		}
		r.aeads[k.ID] = aead
		r.secrets[k.ID] = bytes.Clone(k.Secret)
	}
	return r, nil
}

// CurrentID returns the ID of the key that [Ring.Encrypt] uses.
func (r *Ring) CurrentID() string { return r.currentID }

// Encrypt seals plaintext under the current key with a fresh random nonce.
// associatedData (which may be nil) is authenticated but not stored: pass the
// same bytes to [Ring.Decrypt], typically the identity of the row or field
// the ciphertext belongs to, so it cannot be copied elsewhere.
func (r *Ring) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	header := make([]byte, 0, 2+len(r.currentID))
	header = append(header, formatVersion, byte(len(r.currentID)))
	header = append(header, r.currentID...)

	out := make([]byte, len(header)+nonceSize, len(header)+nonceSize+len(plaintext)+tagSize)
	copy(out, header)
	nonce := out[len(header):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keyring: generating nonce: %w", err)
	}
	return r.aeads[r.currentID].Seal(out, nonce, plaintext, additionalData(header, associatedData)), nil
}

// Decrypt opens a ciphertext from [Ring.Encrypt] with the key it names.
// It fails with an error wrapping [ErrUnknownKey] when the ring lacks that
// key, and with one wrapping [ErrDecrypt] for anything else.
func (r *Ring) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	id, header, err := parseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := r.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, id)
	}
	rest := ciphertext[len(header):]
	nonce, sealed := rest[:nonceSize], rest[nonceSize:]
	plaintext, err := aead.Open(nil, nonce, sealed, additionalData(header, associatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: message authentication failed", ErrDecrypt)
	}
	return plaintext, nil
}

// KeyID returns the ID of the key that sealed ciphertext, without decrypting
// it, so that data under retired keys can be found and re-encrypted. The ID
// is not authenticated until [Ring.Decrypt] succeeds.
func (r *Ring) KeyID(ciphertext []byte) (string, error) {
	id, _, err := parseHeader(ciphertext)
	return id, err
}

// parseHeader checks the ciphertext's framing and returns the key ID and the
// header bytes (version, length, id).
func parseHeader(ciphertext []byte) (id string, header []byte, err error) {
	if len(ciphertext) < 2 {
		return "", nil, fmt.Errorf("%w: ciphertext too short", ErrDecrypt)
	}
	if ciphertext[0] != formatVersion {
		return "", nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, ciphertext[0])
	}
	n := int(ciphertext[1])
	if n == 0 || n > maxIDLen || len(ciphertext) < 2+n+nonceSize+tagSize {
		return "", nil, fmt.Errorf("%w: ciphertext too short or malformed", ErrDecrypt)
	}
	id = string(ciphertext[2 : 2+n])
	if !validID(id) {
		return "", nil, fmt.Errorf("%w: malformed key id", ErrDecrypt)
	}
	return id, ciphertext[:2+n], nil
}

// additionalData binds the header to the caller's associated data. The
// header carries its own length, so header||associatedData is unambiguous.
func additionalData(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	ad = append(ad, header...)
	return append(ad, associatedData...)
}
