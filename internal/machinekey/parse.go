package machinekey

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/failure"
)

// The JWS algorithms (RFC 7518, section 3.1; RFC 8037) a machine key may
// sign with. The key type decides which one applies.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	ES384 = "ES384"
	EdDSA = "EdDSA"
)

// Algorithms lists the accepted algorithms.
var Algorithms = []string{RS256, ES256, ES384, EdDSA}

// RSA modulus bounds. The upper one is go-jose's MaxRSAModulusBits, so that
// a key registered as PEM can always be read back from its JWK.
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// maxInputSize bounds the public key input; the largest accepted key as a
// JWK with a certificate chain fits comfortably.
const maxInputSize = 64 << 10

const fieldPublicKey = "publicKey"

const acceptedKeys = "accepted are RSA of 2048 to 4096 bits (RS256), ECDSA P-256 (ES256) or P-384 (ES384), and Ed25519 (EdDSA)"

func invalidKey(format string, args ...any) *failure.Error {
	return failure.InvalidArgument(fieldPublicKey, format, args...)
}

func errPrivateKey() *failure.Error {
	return invalidKey("is a private key; register only the public key, and keep the private key secret")
}

// parsePublicKey reads one PEM "PUBLIC KEY" block or one JWK and returns
// the key with the algorithm it signs with.
func parsePublicKey(input []byte) (crypto.PublicKey, string, error) {
	if len(input) > maxInputSize {
		return nil, "", invalidKey("is larger than %d KiB", maxInputSize>>10)
	}
	input = bytes.TrimSpace(input)
	var pub crypto.PublicKey
	var jwkAlg string
	var err error
	switch {
	case len(input) == 0:
		return nil, "", invalidKey("is required")
	case input[0] == '{':
		pub, jwkAlg, err = parseJWK(input)
	case bytes.HasPrefix(input, []byte("-----BEGIN ")):
		pub, err = parsePEM(input)
	default:
		return nil, "", invalidKey(`must be a PEM "PUBLIC KEY" block or a JWK (JSON)`)
	}
	if err != nil {
		return nil, "", err
	}
	alg, err := algorithmOf(pub)
	if err != nil {
		return nil, "", err
	}
	if jwkAlg != "" && jwkAlg != alg {
		return nil, "", invalidKey(`the JWK's "alg" %.20q does not fit this key, which signs with %s`, jwkAlg, alg)
	}
	return pub, alg, nil
}

func parsePEM(input []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(input)
	if block == nil {
		return nil, invalidKey("is not valid PEM")
	}
	switch block.Type {
	case "PUBLIC KEY":
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return nil, errPrivateKey()
	default:
		return nil, invalidKey(`a PEM block of type %.40q is not accepted; want "PUBLIC KEY" (PKIX)`, block.Type)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, invalidKey("must hold exactly one PEM block")
	}
	if len(block.Headers) > 0 {
		return nil, invalidKey("must be a PEM block without headers")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		e := invalidKey("is not a valid PKIX public key")
		e.Cause = err
		return nil, e
	}
	return pub, nil
}

// privateJWKMembers are the JWK members that carry private or secret key
// material (RFC 7518, sections 6.2.2, 6.3.2 and 6.4; RFC 8037).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// parseJWK reads one public JWK and returns its key and its "alg", if any.
// Private members are refused before go-jose sees them: its parser is not
// meant for untrusted private keys, and they have no business here.
func parseJWK(input []byte) (crypto.PublicKey, string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(input, &members); err != nil {
		e := invalidKey("is not valid JSON")
		e.Cause = err
		return nil, "", e
	}
	if _, ok := members["keys"]; ok {
		return nil, "", invalidKey("must be a single JWK, not a JWK Set")
	}
	var kty string
	if raw, ok := members["kty"]; !ok || json.Unmarshal(raw, &kty) != nil {
		return nil, "", invalidKey(`must be a JWK with a "kty" string`)
	}
	if kty == "oct" {
		return nil, "", invalidKey("is a symmetric key; register a public key")
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return nil, "", errPrivateKey()
		}
	}
	switch kty {
	case "RSA", "EC", "OKP":
	default:
		return nil, "", invalidKey(`a JWK of "kty" %.20q is not accepted; %s`, kty, acceptedKeys)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(input); err != nil {
		e := invalidKey("is not a valid JWK")
		e.Cause = err
		return nil, "", e
	}
	if !jwk.IsPublic() {
		return nil, "", invalidKey("is not a public key; %s", acceptedKeys)
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, "", invalidKey(`the JWK's "use" must be "sig"`)
	}
	return jwk.Key, jwk.Algorithm, nil
}

// algorithmOf checks that pub is a key Castellan accepts and returns the
// algorithm it signs with.
func algorithmOf(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); {
		case bits < minRSABits:
			return "", invalidKey("an RSA key needs at least %d bits, this one has %d", minRSABits, bits)
		case bits > maxRSABits:
			return "", invalidKey("an RSA key may have at most %d bits, this one has %d", maxRSABits, bits)
		}
		if k.N.Bit(0) == 0 || k.E < 3 || k.E%2 == 0 {
			return "", invalidKey("is not a valid RSA public key")
		}
		return RS256, nil
	case *ecdsa.PublicKey:
		var alg string
		switch k.Curve {
		case elliptic.P256():
			alg = ES256
		case elliptic.P384():
			alg = ES384
		case nil:
			return "", invalidKey("is not a valid ECDSA public key")
		default:
			return "", invalidKey("ECDSA curve %s is not accepted; %s", k.Curve.Params().Name, acceptedKeys)
		}
		if _, err := k.ECDH(); err != nil {
			e := invalidKey("is not a valid ECDSA public key")
			e.Cause = err
			return "", e
		}
		return alg, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", invalidKey("is not a valid Ed25519 public key")
		}
		return EdDSA, nil
	default:
		return "", invalidKey("this key type is not accepted; %s", acceptedKeys)
	}
}

// publicJWK is the stored form of a public key: its JWK with the key id,
// algorithm and use, and its RFC 7638 thumbprint (SHA-256, base64url).
func publicJWK(pub crypto.PublicKey, keyID, alg string) (json.RawMessage, string, error) {
	jwk := jose.JSONWebKey{Key: pub, KeyID: keyID, Algorithm: alg, Use: "sig"}
	data, err := jwk.MarshalJSON()
	if err != nil {
		return nil, "", err
	}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", err
	}
	return data, encodeThumbprint(sum), nil
}
