// Package logout carries an RP-initiated logout (OpenID Connect
// RP-Initiated Logout 1.0) from the provider's end-session endpoint, which
// checks it, to the hosted login, which holds the browser's sessions and
// asks the user: a Request sealed with the key ring (AES-256-GCM, bound to
// the instance and a purpose), so that nobody can forge a logout that
// returns to a URI the client did not register. It expires after
// Lifetime.
package logout

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// Lifetime is how long a sealed request is accepted.
const Lifetime = 15 * time.Minute

// Request is a checked logout request.
type Request struct {
	// ClientID is the client that asked, "" when unknown.
	ClientID string `json:"c,omitempty"`
	// RedirectURI is a post-logout redirect URI of ClientID, "" for none;
	// State goes back with it.
	RedirectURI string `json:"r,omitempty"`
	State       string `json:"s,omitempty"`
	// SessionID is the session a valid id_token_hint named: the logout
	// needs no confirmation when the browser holds it.
	SessionID string `json:"sid,omitempty"`
	Expires   int64  `json:"e"`
}

// Sealer seals and opens data for a context (keyring.Ring).
type Sealer interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

func sealingContext(instanceID string) []byte { return []byte("castellan/logout/v1/" + instanceID) }

// Seal returns r, for the instance, as a URL-safe string.
func Seal(s Sealer, instanceID string, r Request, now time.Time) (string, error) {
	r.Expires = now.Add(Lifetime).Unix()
	b, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	sealed, err := s.Encrypt(b, sealingContext(instanceID))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// ErrInvalid is the error of a request that was not sealed for the
// instance, or has expired.
var ErrInvalid = errors.New("logout: the logout request is invalid or has expired")

// Open returns the request sealed in v for the instance.
func Open(s Sealer, instanceID, v string, now time.Time) (Request, error) {
	if len(v) > 8<<10 {
		return Request{}, ErrInvalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return Request{}, ErrInvalid
	}
	b, err := s.Decrypt(sealed, sealingContext(instanceID))
	if err != nil {
		return Request{}, ErrInvalid
	}
	var r Request
	if json.Unmarshal(b, &r) != nil || now.Unix() > r.Expires {
		return Request{}, ErrInvalid
	}
	return r, nil
}
