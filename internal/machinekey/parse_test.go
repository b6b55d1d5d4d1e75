package machinekey

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
)

// rfc7638Thumbprint computes a thumbprint by the letter of RFC 7638,
// section 3: the required members in lexicographic order, no whitespace.
func rfc7638Thumbprint(t *testing.T, jwk []byte) string {
	t.Helper()
	var m map[string]string
	var all map[string]any
	if err := json.Unmarshal(jwk, &all); err != nil {
		t.Fatal(err)
	}
	m = map[string]string{}
	for k, v := range all {
		if s, ok := v.(string); ok {
			m[k] = s
		}
	}
	var canonical string
	switch m["kty"] {
	case "RSA":
		canonical = `{"e":"` + m["e"] + `","kty":"RSA","n":"` + m["n"] + `"}`
	case "EC":
		canonical = `{"crv":"` + m["crv"] + `","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`
	case "OKP":
		canonical = `{"crv":"` + m["crv"] + `","kty":"OKP","x":"` + m["x"] + `"}`
	default:
		t.Fatalf("kty %q", m["kty"])
	}
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// The worked example of RFC 7638, section 3.1.
func TestRegisterThumbprintMatchesRFC7638Example(t *testing.T) {
	jwk := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	_, key, err := Register(machine("inst-a"), []byte(jwk), now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if key.Thumbprint != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %s", key.Thumbprint)
	}
	if key.Algorithm != RS256 {
		t.Fatalf("algorithm %s", key.Algorithm)
	}
	var stored struct{ Kid string }
	if err := json.Unmarshal(key.PublicJWK, &stored); err != nil || stored.Kid != key.ID {
		t.Fatalf("stored kid %q, want Castellan's key id %q (%v)", stored.Kid, key.ID, err)
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// fakeRSA is an RSA public key of exactly bits bits, without the cost of
// generating a real one; only its size matters to the tests using it.
func fakeRSA(t *testing.T, bits int) *rsa.PublicKey {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
	return &rsa.PublicKey{N: n, E: 65537}
}

func TestRegisterRejects(t *testing.T) {
	pkcs8, err := x509.MarshalPKCS8PrivateKey(p256())
	if err != nil {
		t.Fatal(err)
	}
	ecPrivate, err := x509.MarshalECPrivateKey(p256().(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now, NotAfter: now.Add(time.Hour)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ed().Public(), ed())
	if err != nil {
		t.Fatal(err)
	}
	// The identity point: a low-order Ed25519 key that any signature fits.
	weakEd := make(ed25519.PublicKey, ed25519.PublicKeySize)
	weakEd[0] = 1
	offCurve := map[string]string{}
	if err := json.Unmarshal(jwkOf(t, p256().Public()), &offCurve); err != nil {
		t.Fatal(err)
	}
	offCurve["y"] = offCurve["x"]
	rsaJWK := map[string]string{}
	if err := json.Unmarshal(jwkOf(t, rsa2048().Public()), &rsaJWK); err != nil {
		t.Fatal(err)
	}
	with := func(m map[string]string, k, v string) []byte {
		c := maps.Clone(m)
		c[k] = v
		b, _ := json.Marshal(c)
		return b
	}
	p256PEM := pemOf(t, p256().Public())

	for _, tc := range []struct {
		name  string
		input []byte
		says  string
	}{
		{"fail/empty", nil, "is required"},
		{"fail/only whitespace", []byte(" \n\t"), "is required"},
		{"fail/garbage", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"), "PEM"},
		{"fail/binary", []byte{0x30, 0x82, 0x01, 0x22, 0xff, 0x00}, "PEM"},
		{"fail/too large", append([]byte("{"), bytes.Repeat([]byte(" "), maxInputSize)...), "larger"},
		{"fail/PEM without end", []byte("-----BEGIN PUBLIC KEY-----\nMIIB"), "not valid PEM"},
		{"fail/PEM not base64", []byte("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n"), "not valid PEM"},
		{"fail/PEM not PKIX", pemBlock("PUBLIC KEY", []byte("not DER")), "PKIX"},
		{"fail/two PEM blocks", append(slices.Clone(p256PEM), pemOf(t, p384().Public())...), "exactly one"},
		{"fail/PEM with headers", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Comment": "x"}, Bytes: []byte{0}}), "headers"},
		{"fail/PKCS#8 private key", pemBlock("PRIVATE KEY", pkcs8), "private key"},
		{"fail/SEC 1 private key", pemBlock("EC PRIVATE KEY", ecPrivate), "private key"},
		{"fail/PKCS#1 private key", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024().(*rsa.PrivateKey))), "private key"},
		{"fail/certificate", pemBlock("CERTIFICATE", cert), `"CERTIFICATE" is not accepted`},
		{"fail/RSA 1024 PEM", pemOf(t, rsa1024().Public()), "at least 2048 bits, this one has 1024"},
		{"fail/RSA 1024 JWK", jwkOf(t, rsa1024().Public()), "at least 2048 bits"},
		{"fail/RSA 2047 PEM", pemOf(t, fakeRSA(t, 2047)), "at least 2048 bits"},
		{"fail/RSA 4097 PEM", pemOf(t, fakeRSA(t, 4097)), "at most 4096 bits"},
		{"fail/RSA even exponent", pemOf(t, &rsa.PublicKey{N: fakeRSA(t, 2048).N, E: 65536}), "not a valid RSA"},
		{"fail/ECDSA P-521 PEM", pemOf(t, p521().Public()), "P-521 is not accepted"},
		{"fail/ECDSA P-521 JWK", jwkOf(t, p521().Public()), "P-521 is not accepted"},
		{"fail/ECDSA P-224", pemOf(t, must(ecdsa.GenerateKey(elliptic.P224(), rand.Reader)).Public()), "P-224 is not accepted"},
		{"fail/ECDSA point off the curve", mustJSON(offCurve), "not a valid JWK"},
		{"fail/X25519 cannot sign", pemOf(t, x25519.PublicKey()), "key type is not accepted"},
		{"fail/Ed25519 low-order point PEM", pemOf(t, weakEd), "not a usable public key"},
		{"fail/Ed25519 low-order point JWK", []byte(`{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(weakEd) + `"}`), "not a valid JWK"},
		{"fail/private JWK", jwkOf(t, p256()), "private key"},
		{"fail/private Ed25519 JWK", jwkOf(t, ed()), "private key"},
		{"fail/private RSA JWK", jwkOf(t, rsa2048()), "private key"},
		{"fail/symmetric JWK", []byte(`{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}`), "symmetric"},
		{"fail/JWK Set", []byte(`{"keys":[` + string(jwkOf(t, p256().Public())) + `]}`), "not a JWK Set"},
		{"fail/JWK without kty", []byte(`{"crv":"P-256"}`), `"kty"`},
		{"fail/JWK of unknown kty", []byte(`{"kty":"AKP","alg":"ML-DSA-44","pub":"AAAA"}`), `"AKP" is not accepted`},
		{"fail/JWK X25519", []byte(`{"kty":"OKP","crv":"X25519","x":"` + base64.RawURLEncoding.EncodeToString(x25519.PublicKey().Bytes()) + `"}`), "not a valid JWK"},
		{"fail/JWK for encryption", with(rsaJWK, "use", "enc"), `"use" must be "sig"`},
		{"fail/JWK alg of another family", with(rsaJWK, "alg", "ES256"), "signs with RS256"},
		{"fail/JWK RSA alg other than RS256", with(rsaJWK, "alg", "PS256"), "signs with RS256"},
		{"fail/JWK not JSON", []byte(`{"kty":"EC",`), "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, key, err := Register(machine("inst-a"), tc.input, now.Add(time.Hour), now)
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != "publicKey" {
				t.Fatalf("Register = %+v, %+v, %v; want invalid argument on publicKey", a, key, err)
			}
			if !strings.Contains(fe.Message, tc.says) {
				t.Fatalf("message %q does not say %q", fe.Message, tc.says)
			}
			if len(tc.input) > 80 && strings.Contains(err.Error(), string(tc.input[40:70])) {
				t.Fatalf("the error repeats the input: %v", err)
			}
		})
	}
}

func mustJSON(v any) []byte { return must(json.Marshal(v)) }

// The public key comes from the network: no input may panic, and every
// refusal is an invalid argument on publicKey. An accepted key reads back
// from its stored JWK as the same key.
func FuzzRegister(f *testing.F) {
	for _, k := range accepted() {
		f.Add(pemOf(f, k.key.Public()))
		f.Add(jwkOf(f, k.key.Public()))
	}
	f.Add(jwkOf(f, p256()))
	f.Add(pemOf(f, p521().Public()))
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"","y":""}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, input []byte) {
		_, key, err := Register(machine("inst-a"), input, now.Add(time.Hour), now)
		if err != nil {
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != "publicKey" {
				t.Fatalf("Register error %v; want invalid argument on publicKey", err)
			}
			return
		}
		if !slices.Contains(Algorithms, key.Algorithm) {
			t.Fatalf("accepted algorithm %q", key.Algorithm)
		}
		pub, alg, err := parsePublicKey(key.PublicJWK)
		if err != nil || alg != key.Algorithm || !key.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Fatalf("stored JWK %s reads back as %T %s, %v", key.PublicJWK, pub, alg, err)
		}
	})
}
