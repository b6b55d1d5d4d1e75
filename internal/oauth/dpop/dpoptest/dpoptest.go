// Package dpoptest makes DPoP proofs (RFC 9449) for tests, with go-jose:
// keys of each algorithm the server accepts, and proofs with any claims,
// right or wrong.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a client's DPoP key.
type Key struct {
	Alg     jose.SignatureAlgorithm
	Private crypto.Signer
}

// NewKey makes a key for alg (ES256, PS256, RS256 or EdDSA).
func NewKey(t testing.TB, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.PS256, jose.RS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("dpoptest: no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Alg: alg, Private: k}
}

// JWK is the key's public JWK.
func (k *Key) JWK() jose.JSONWebKey { return jose.JSONWebKey{Key: k.Private.Public()} }

// JKT is the key's JWK SHA-256 thumbprint (cnf.jkt).
func (k *Key) JKT(t testing.TB) string {
	j := k.JWK()
	b, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Claims are a proof's claims; the zero IAT is now, the zero JTI a random
// one. AccessToken sets ath to its hash.
type Claims struct {
	HTM, HTU    string
	IAT         time.Time
	JTI         string
	AccessToken string
	Nonce       string
	// Typ replaces dpop+jwt in the header when not "".
	Typ string
	// Extra are further claims, or replacements of the ones above.
	Extra map[string]any
}

// Proof signs a proof with c, embedding the public key.
func (k *Key) Proof(t testing.TB, c Claims) string {
	t.Helper()
	typ := c.Typ
	if typ == "" {
		typ = "dpop+jwt"
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(jose.ContentType(typ))
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, s, c)
}

// ProofWithHeaderKey signs with k but embeds header as the jwk: a proof
// whose signature its jwk does not verify, or a private jwk.
func (k *Key) ProofWithHeaderKey(t testing.TB, header jose.JSONWebKey, c Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"jwk": header}}).WithType("dpop+jwt")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, s, c)
}

func sign(t testing.TB, s jose.Signer, c Claims) string {
	t.Helper()
	iat := c.IAT
	if iat.IsZero() {
		iat = time.Now()
	}
	jti := c.JTI
	if jti == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		jti = base64.RawURLEncoding.EncodeToString(b)
	}
	m := map[string]any{"jti": jti, "htm": c.HTM, "htu": c.HTU, "iat": iat.Unix()}
	if c.AccessToken != "" {
		sum := sha256.Sum256([]byte(c.AccessToken))
		m["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if c.Nonce != "" {
		m["nonce"] = c.Nonce
	}
	for k, v := range c.Extra {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
