package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// issuer is a stand-in for a Castellan instance: its discovery document
// and key set, and access tokens signed with its key.
type issuer struct {
	*httptest.Server
	signer jose.Signer
}

func newIssuer(t *testing.T) *issuer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1", Algorithm: "ES256"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	iss := &issuer{signer: signer}
	mux := http.NewServeMux()
	iss.Server = httptest.NewServer(mux)
	t.Cleanup(iss.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss.URL, "jwks_uri": iss.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	return iss
}

func (iss *issuer) token(t *testing.T, jkt string) string {
	claims := map[string]any{"iss": iss.URL, "sub": "u1", "aud": []string{"p1"}, "client_id": "c1", "jti": "t1",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	if jkt != "" {
		claims["cnf"] = map[string]string{"jkt": jkt}
	}
	raw, err := jwt.Signed(iss.signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A flood of valid proofs fills the middleware's memory of proofs: then
// it refuses (503) rather than forget a proof and let its replay through.
func TestDPoPResourceBoundedMemory(t *testing.T) {
	iss := newIssuer(t)
	key := dpoptest.NewKey(t, jose.ES256)
	at := iss.token(t, key.JKT(t))
	rs, err := client.NewDPoPResource(client.DPoPResourceConfig{Issuer: iss.URL, Audience: "p1", BaseURL: "https://api.example.com", MaxProofs: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := rs.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := client.DPoPTokenFrom(r.Context()); !ok || tok.Subject != "u1" || tok.JKT != key.JKT(t) {
			t.Errorf("token in the context: %+v", tok)
		}
	}))
	call := func(proof string) int {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		req.Header.Set("Authorization", "DPoP "+at)
		req.Header.Set("DPoP", proof)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	proof := func() string {
		return key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: "https://api.example.com/orders", AccessToken: at})
	}
	first := proof()
	for i, p := range []string{first, proof(), proof()} {
		if code := call(p); code != http.StatusOK {
			t.Fatalf("proof %d: %d", i, code)
		}
	}
	if code := call(first); code != http.StatusUnauthorized {
		t.Fatalf("replay: %d", code)
	}
	if code := call(proof()); code != http.StatusServiceUnavailable {
		t.Fatalf("a fourth proof with the memory full: %d, want 503", code)
	}
	if code := call(first); code != http.StatusUnauthorized {
		t.Fatalf("replay after the flood: %d", code)
	}
}
