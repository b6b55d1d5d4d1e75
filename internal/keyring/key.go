package keyring

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// SecretSize is the length in bytes of a key's secret: AES-256 needs 32.
const SecretSize = 32

// maxIDLen bounds key IDs so that the ID fits the one-byte length in the
// ciphertext header with room to spare, and stays readable in configuration.
const maxIDLen = 32

// Key is one AES-256 key and the ID that names it in ciphertexts.
// The ID is public; the Secret is not.
type Key struct {
	// ID is 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-'.
	ID string
	// Secret is the 32-byte AES-256 key.
	Secret []byte
}

// GenerateKey returns a key with 32 random bytes. Its ID is "k" followed by
// the first 8 hex digits of the SHA-256 of the secret, so two generated keys
// are told apart without revealing anything useful about either.
func GenerateKey() (Key, error) {
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("keyring: generating key: %w", err)
	}
	sum := sha256.Sum256(secret)
	return Key{ID: "k" + hex.EncodeToString(sum[:4]), Secret: secret}, nil
}

// ParseKey parses a key written as "ID:BASE64" (standard base64 with padding
// of the 32 secret bytes). Surrounding white space is ignored. Errors say
// what is wrong but never repeat the secret.
func ParseKey(s string) (Key, error) {
	k, err := parseKey(s)
	if err != nil {
		return Key{}, fmt.Errorf("keyring: %w", err)
	}
	return k, nil
}

// parseKey is [ParseKey] with errors left unprefixed for the caller to frame.
func parseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	id, encoded, ok := strings.Cut(s, ":")
	if !ok {
		return Key{}, errors.New("key must have the form ID:BASE64")
	}
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	secret, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil {
		var corrupt base64.CorruptInputError
		if errors.As(err, &corrupt) {
			return Key{}, fmt.Errorf("key %s: secret is not valid standard base64 (at byte %d)", id, int64(corrupt))
		}
		return Key{}, fmt.Errorf("key %s: secret is not valid standard base64", id)
	}
	if len(secret) != SecretSize {
		return Key{}, fmt.Errorf("key %s: secret must be %d bytes, got %d", id, SecretSize, len(secret))
	}
	return Key{ID: id, Secret: secret}, nil
}

// String returns the key as "ID:BASE64", the form [ParseKey] reads. It
// contains the secret: use it only to store the key. fmt verbs and log/slog
// do not call it (see [Key.Format] and [Key.LogValue]).
func (k Key) String() string {
	return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret)
}

// Format prints the key's ID and hides the secret, whatever the verb, so that
// a key passed to fmt by mistake does not leak.
func (k Key) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "%s:[redacted]", k.ID)
}

// LogValue shows only the key's ID in log records.
func (k Key) LogValue() slog.Value {
	return slog.StringValue(k.ID + ":[redacted]")
}

// validate reports whether k can be used in a ring.
func (k Key) validate() error {
	if err := checkID(k.ID); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if len(k.Secret) != SecretSize {
		return fmt.Errorf("keyring: key %s: secret must be %d bytes, got %d", k.ID, SecretSize, len(k.Secret))
	}
	return nil
}

// checkID reports whether id is a well-formed key ID. The error does not
// quote id: a malformed ID is sometimes a misplaced secret.
func checkID(id string) error {
	if !validID(id) {
		return fmt.Errorf("key id must be 1 to %d characters from A-Z, a-z, 0-9, '_' and '-'", maxIDLen)
	}
	return nil
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
