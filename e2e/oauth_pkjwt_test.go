package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// private_key_jwt (RFC 7523): a client registers a public key and signs
// its assertions with the private one; go-jose signs them here as a
// client library would. A replayed jti, another audience, an unregistered
// key, an expired or too long-lived assertion and an HMAC signature made
// with the public key are all invalid_client.
func TestPrivateKeyJWT(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		newKey := func(kid string) (*ecdsa.PrivateKey, string) {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
			return k, string(set)
		}
		key, jwks := newKey("k1")
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Signed"}, &project)
		app, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "signer", "grantTypes": []string{"client_credentials"},
			"authMethod": "private_key_jwt", "jwks": jwks})
		if secret != "" {
			t.Fatalf("a private_key_jwt client got a secret")
		}
		tokenURL := s.url + "/oauth/v2/token"
		assertion := func(k any, alg jose.SignatureAlgorithm, kid string, c jwt.Claims) string {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := jwt.Signed(signer).Claims(c).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		claims := func(aud string, ttl time.Duration) jwt.Claims {
			now := time.Now()
			return jwt.Claims{Issuer: app.ClientID, Subject: app.ClientID, Audience: jwt.Audience{aud}, ID: rand.Text(),
				IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl))}
		}
		grant := func(a string) (int, map[string]any) {
			code, _, body := s.form(t, "/oauth/v2/token", "", "", url.Values{"grant_type": {"client_credentials"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
			return code, body
		}
		good := assertion(key, jose.ES256, "k1", claims(tokenURL, time.Minute))
		if code, body := grant(good); code != http.StatusOK || body["access_token"] == nil {
			t.Fatalf("private_key_jwt: %d %v", code, body)
		}
		other, _ := newKey("k1")
		var pub struct{ Keys []map[string]any }
		_ = json.Unmarshal([]byte(jwks), &pub)
		for name, a := range map[string]string{
			"a replayed assertion":           good,
			"the issuer as audience is fine": "",
			"another audience":               assertion(key, jose.ES256, "k1", claims("https://elsewhere.example/token", time.Minute)),
			"an unregistered key":            assertion(other, jose.ES256, "k1", claims(tokenURL, time.Minute)),
			"an expired assertion":           assertion(key, jose.ES256, "k1", claims(tokenURL, -time.Minute)),
			"an assertion living an hour":    assertion(key, jose.ES256, "k1", claims(tokenURL, time.Hour)),
			"HS256 with the public key":      assertion([]byte(jwks), jose.HS256, "k1", claims(tokenURL, time.Minute)),
		} {
			if a == "" {
				if code, body := grant(assertion(key, jose.ES256, "k1", claims(s.url, time.Minute))); code != http.StatusOK {
					t.Errorf("%s: %d %v", name, code, body)
				}
				continue
			}
			if code, body := grant(a); code != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Errorf("%s: %d %v", name, code, body)
			}
		}
		// A secret is no way in for a private_key_jwt client.
		if code, _, body := s.form(t, "/oauth/v2/token", app.ClientID, "ccs_"+rand.Text(), url.Values{"grant_type": {"client_credentials"}}); code != http.StatusUnauthorized {
			t.Errorf("a secret for a private_key_jwt client: %d %v", code, body)
		}
		// Rotation: the new key works at once, the old one no more.
		key2, jwks2 := newKey("k2")
		s.api(t, http.MethodPut, "/v1/applications/"+app.ID+"/keys", map[string]any{"jwks": jwks2}, nil)
		if code, body := grant(assertion(key2, jose.ES256, "k2", claims(tokenURL, time.Minute))); code != http.StatusOK {
			t.Fatalf("the new key: %d %v", code, body)
		}
		time.Sleep(1100 * time.Millisecond) // the provider's client cache (1 s)
		if code, body := grant(assertion(key, jose.ES256, "k1", claims(tokenURL, time.Minute))); code != http.StatusUnauthorized {
			t.Fatalf("the removed key: %d %v", code, body)
		}
	})
}
