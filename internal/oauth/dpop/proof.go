package dpop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth"
)

// Header names and the authorization scheme (RFC 9449 sections 4.1, 7.1
// and 8).
const (
	HeaderProof = "DPoP"
	HeaderNonce = "DPoP-Nonce"
	Scheme      = "DPoP"
	// TypeProof is the typ of a proof's JOSE header (section 4.2).
	TypeProof = "dpop+jwt"
)

// Error codes of RFC 9449 sections 5 and 8.
const (
	InvalidProof = "invalid_dpop_proof"
	UseNonce     = "use_dpop_nonce"
)

// Algorithms are the JWS algorithms a proof may be signed with: asymmetric
// ones only (section 4.3 check 5); "none" and the HMAC family never.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.RS256, jose.EdDSA}

// AlgorithmNames are Algorithms as strings, for discovery
// (dpop_signing_alg_values_supported).
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

// Bounds of a proof.
const (
	// MaxProofBytes bounds the DPoP header: an RSA-4096 key and the
	// claims fit in well under half of it.
	MaxProofBytes = 8192
	// Lifetime is how old a proof's iat may be; Skew how far in the
	// future (a client's clock running ahead). A jti is remembered for
	// Lifetime+Skew, after which its proof is refused by its iat anyway.
	Lifetime = 60 * time.Second
	Skew     = 10 * time.Second
	// maxJTI bounds the jti; a client makes it of 96 random bits or so.
	maxJTI = 256
	// maxNonce bounds the nonce claim.
	maxNonce = 256
	// minRSABits refuses weak RSA keys.
	minRSABits = 2048
)

// Target is the request a proof must be for.
type Target struct {
	// Method is the request's HTTP method (htm).
	Method string
	// URL is the request's URL as the server is reached (htu), without
	// query or fragment.
	URL string
	// AccessToken is the access token the request presents, whose hash
	// the proof's ath must be; "" at the token endpoint and PAR.
	AccessToken string
}

// Proof is a DPoP proof whose signature, header and claims were checked
// against its Target (Parse). Only Parse makes one, so code that takes a
// Proof cannot forget to check it; the nonce and the replay of its jti are
// the Checker's.
type Proof struct {
	// JKT is the JWK SHA-256 thumbprint (RFC 7638) of its public key, the
	// value of cnf.jkt of the tokens bound to it.
	JKT      string
	JTI      string
	IssuedAt time.Time
	// Nonce is the nonce claim; "" for none.
	Nonce string
	// Key is the public key that signed it.
	Key jose.JSONWebKey
	// Algorithm is the JWS algorithm it is signed with (one of
	// Algorithms).
	Algorithm string
}

type proofClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

func invalid(format string, args ...any) *oauth.Error {
	return oauth.Errorf(InvalidProof, format, args...)
}

// Parse checks a DPoP proof (RFC 9449 section 4.3) for a request to t at
// now: one well-formed JWS in compact form of at most MaxProofBytes, typ
// dpop+jwt, an algorithm of Algorithms, a public jwk (no private part;
// RSA of at least 2048 bits) that verifies the signature, the claims jti,
// htm (equal to t.Method), htu (equal to t.URL once both are normalised),
// iat within [now-Lifetime, now+Skew], and ath the hash of t.AccessToken
// when one is presented. Every failure is an *oauth.Error with code
// invalid_dpop_proof.
func Parse(raw string, t Target, now time.Time) (Proof, error) {
	if raw == "" {
		return Proof{}, invalid("the DPoP proof is empty")
	}
	if len(raw) > MaxProofBytes {
		return Proof{}, invalid("the DPoP proof exceeds %d bytes", MaxProofBytes)
	}
	jws, err := jose.ParseSignedCompact(raw, Algorithms)
	if err != nil {
		return Proof{}, invalid("the DPoP proof is not a well-formed JWS: compact, signed with one of %s, with a public jwk", strings.Join(AlgorithmNames(), ", "))
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, invalid("the DPoP proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, TypeProof) {
		return Proof{}, invalid("the DPoP proof's typ must be %s", TypeProof)
	}
	key := h.JSONWebKey
	if key == nil {
		return Proof{}, invalid("the DPoP proof's header has no jwk")
	}
	if !key.Valid() || !key.IsPublic() {
		return Proof{}, invalid("the DPoP proof's jwk must be a public key")
	}
	if k, ok := key.Key.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return Proof{}, invalid("the DPoP proof's RSA key is shorter than %d bits", minRSABits)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return Proof{}, invalid("the DPoP proof's signature does not verify with its jwk")
	}
	var c proofClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Proof{}, invalid("the DPoP proof's claims are not a JSON object of the expected types")
	}
	switch {
	case c.JTI == "" || len(c.JTI) > maxJTI:
		return Proof{}, invalid("the DPoP proof's jti is missing or longer than %d bytes", maxJTI)
	case c.HTM == "":
		return Proof{}, invalid("the DPoP proof has no htm")
	case c.HTM != t.Method:
		return Proof{}, invalid("the DPoP proof's htm does not match the request's method")
	case c.HTU == "":
		return Proof{}, invalid("the DPoP proof has no htu")
	case !SameURL(c.HTU, t.URL):
		return Proof{}, invalid("the DPoP proof's htu does not match the request's URL")
	case c.IAT == nil || math.IsNaN(*c.IAT) || math.IsInf(*c.IAT, 0):
		return Proof{}, invalid("the DPoP proof has no iat")
	case c.Nonce != nil && (*c.Nonce == "" || len(*c.Nonce) > maxNonce):
		return Proof{}, invalid("the DPoP proof's nonce is empty or longer than %d bytes", maxNonce)
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if *c.IAT < float64(now.Add(-Lifetime).Unix()) || *c.IAT > float64(now.Add(Skew).Unix()) {
		return Proof{}, invalid("the DPoP proof's iat is not within %s of the server's time", Lifetime)
	}
	if t.AccessToken != "" {
		if c.ATH == nil {
			return Proof{}, invalid("the DPoP proof has no ath for the access token")
		}
		if subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(AccessTokenHash(t.AccessToken))) != 1 {
			return Proof{}, invalid("the DPoP proof's ath is not the hash of the access token")
		}
	}
	jkt, err := Thumbprint(*key)
	if err != nil {
		return Proof{}, invalid("the DPoP proof's jwk has no thumbprint")
	}
	p := Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat, Key: *key, Algorithm: h.Algorithm}
	if c.Nonce != nil {
		p.Nonce = *c.Nonce
	}
	return p, nil
}

// Thumbprint is the base64url JWK SHA-256 thumbprint of a key (RFC 7638),
// as in cnf.jkt and dpop_jkt.
func Thumbprint(k jose.JSONWebKey) (string, error) {
	b, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// AccessTokenHash is the ath of a proof for an access token (RFC 9449
// section 4.2): the base64url SHA-256 of its ASCII.
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameURL compares a proof's htu with the request's URL as RFC 9449
// section 4.3 check 9 asks: without query and fragment, after syntax- and
// scheme-based normalisation (RFC 3986 sections 6.2.2 and 6.2.3): scheme
// and host compared case-insensitively, a default port the same as none,
// an empty path the same as "/", dot segments removed and
// percent-encodings decoded.
func SameURL(htu, request string) bool {
	a, ok := normaliseURL(htu)
	if !ok {
		return false
	}
	b, ok := normaliseURL(request)
	return ok && a == b
}

func normaliseURL(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", false
	}
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	p := u.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	// Resolving the path against the root removes its dot segments
	// (RFC 3986 section 5.2.4), and nothing else.
	p = (&url.URL{Path: "/"}).ResolveReference(&url.URL{Path: p}).Path
	return fmt.Sprintf("%s://%s%s", scheme, host, p), true
}
