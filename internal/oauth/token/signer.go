package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// JWT types (the "typ" header).
const (
	// TypeAccessToken marks an RFC 9068 access token (section 2.1).
	TypeAccessToken = "at+jwt"
	// TypeJWT marks ID tokens and other plain JWTs.
	TypeJWT = "JWT"
)

// Signer signs JWTs with one key. It is safe for concurrent use.
type Signer struct {
	KeyID     string
	Algorithm string
	key       crypto.Signer
	// headers are the encoded protected headers, by typ.
	headers map[string]string
}

func newSigner(keyID, alg string, key crypto.Signer) (*Signer, error) {
	ok := false
	switch key.(type) {
	case *ecdsa.PrivateKey:
		ok = alg == ES256
	case *rsa.PrivateKey:
		ok = alg == RS256
	case ed25519.PrivateKey:
		ok = alg == EdDSA
	}
	if !ok {
		return nil, fmt.Errorf("token: key %s is a %T, which does not sign %s", keyID, key, alg)
	}
	s := &Signer{KeyID: keyID, Algorithm: alg, key: key, headers: map[string]string{}}
	for _, typ := range []string{TypeAccessToken, TypeJWT, TypeLogoutToken} {
		h, err := json.Marshal(struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
			Typ string `json:"typ"`
		}{alg, keyID, typ})
		if err != nil {
			return nil, err
		}
		s.headers[typ] = base64.RawURLEncoding.EncodeToString(h)
	}
	return s, nil
}

// Sign returns the JWS compact serialization (RFC 7515 section 7.1) of
// claims, with the header {"alg", "kid", "typ"}.
func (s *Signer) Sign(typ string, claims any) (string, error) {
	header, ok := s.headers[typ]
	if !ok {
		return "", fmt.Errorf("token: unknown JWT type %q", typ)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("token: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(s.signatureSize()))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := s.signature(buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}

// signatureSize is the length of the key's signatures: 64 bytes for
// ES256 (R and S) and EdDSA, the modulus's for RS256.
func (s *Signer) signatureSize() int {
	if k, ok := s.key.(*rsa.PrivateKey); ok {
		return k.Size()
	}
	return 64
}

func (s *Signer) signature(input []byte) ([]byte, error) {
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(input)
		r, sv, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return nil, fmt.Errorf("token: sign: %w", err)
		}
		// RFC 7518 section 3.4: R and S as 32-byte big-endian integers.
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		sv.FillBytes(sig[32:])
		return sig, nil
	case *rsa.PrivateKey:
		digest := sha256.Sum256(input)
		return rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	}
	return nil, fmt.Errorf("token: cannot sign with a %T", s.key)
}
