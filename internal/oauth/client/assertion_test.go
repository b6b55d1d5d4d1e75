package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestCheckJWKS(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := func(keys ...jose.JSONWebKey) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pub := jose.JSONWebKey{Key: &k.PublicKey, KeyID: "a", Algorithm: "ES256", Use: "sig"}
	many := make([]jose.JSONWebKey, 11)
	for i := range many {
		many[i] = pub
		many[i].KeyID = fmt.Sprint(i)
	}
	for _, c := range []struct {
		name    string
		raw     []byte
		wantErr string
	}{
		{"a public key", set(pub), ""},
		{"a private key", set(jose.JSONWebKey{Key: k, KeyID: "a", Algorithm: "ES256"}), "private material"},
		{"a symmetric key", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s"}]}`), "symmetric"},
		{"an encryption key", set(jose.JSONWebKey{Key: &k.PublicKey, KeyID: "a", Use: "enc"}), "not signatures"},
		{"a key id twice", set(pub, pub), "twice"},
		{"no keys", []byte(`{"keys":[]}`), "1 to 10"},
		{"eleven keys", set(many...), "1 to 10"},
		{"not JSON", []byte(`{"keys":`), "not a JWK Set"},
		{"too large", []byte(`{"keys":[],"x":"` + strings.Repeat("a", 40<<10) + `"}`), "at most"},
	} {
		_, err := checkJWKS(c.raw)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.wantErr)
		}
	}
}

func FuzzJWKSAndAssertion(f *testing.F) {
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)
	f.Add(`eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJjIn0.c2ln`)
	f.Fuzz(func(t *testing.T, s string) {
		if set, err := checkJWKS([]byte(s)); err == nil {
			for _, k := range set.Keys {
				if !k.IsPublic() {
					t.Fatalf("accepted a private key in %q", s)
				}
			}
		}
		_ = PeekAssertionIssuer(s)
	})
}
