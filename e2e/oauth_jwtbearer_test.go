package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	oauth2jwt "golang.org/x/oauth2/jwt"
)

// machine is a machine user with a key Castellan generated for it.
type machine struct {
	userID, keyID string
	private       crypto.Signer
	privatePEM    []byte
	alg           jose.SignatureAlgorithm
}

// createMachine creates a machine user and generates a key of alg for it.
func (s *oauthServer) createMachine(t *testing.T, loginName, alg string) machine {
	t.Helper()
	var created struct {
		UserID string `json:"userId"`
	}
	s.api(t, http.MethodPost, "/v1/users", map[string]any{"organizationId": s.orgID, "type": "machine", "loginName": loginName,
		"traits": map[string]any{"name": loginName}}, &created)
	var key struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
		PrivateKey string `json:"privateKey"`
	}
	s.api(t, http.MethodPost, "/v1/users/"+created.UserID+"/keys", map[string]any{"algorithm": alg,
		"expireTime": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}, &key)
	block, _ := pem.Decode([]byte(key.PrivateKey))
	if block == nil {
		t.Fatalf("no PEM private key: %q", key.PrivateKey)
	}
	private, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return machine{userID: created.UserID, keyID: key.Key.ID, private: private.(crypto.Signer), privatePEM: []byte(key.PrivateKey),
		alg: jose.SignatureAlgorithm(alg)}
}

// assertion signs claims with the machine's key, go-jose as a client
// library would.
func (m machine) assertion(t *testing.T, c jwt.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: m.alg, Key: m.private}, (&jose.SignerOptions{}).WithHeader("kid", m.keyID).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// claims are an assertion's claims for aud, expiring after ttl.
func (m machine) claims(aud string, ttl time.Duration) jwt.Claims {
	now := time.Now()
	return jwt.Claims{Issuer: m.userID, Subject: m.userID, Audience: jwt.Audience{aud}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl))}
}

// accessClaims verifies an access token against the JWKS and returns its
// claims.
func (s *oauthServer) accessClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	_, body := get(t, http.DefaultClient, s.url+"/oauth/v2/keys", "")
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &jwks); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("access token %q: %v", raw, err)
	}
	keys := jwks.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 || parsed.Headers[0].ExtraHeaders[jose.HeaderType] != "at+jwt" {
		t.Fatalf("header %+v", parsed.Headers[0])
	}
	var c map[string]any
	if err := parsed.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("the access token does not verify: %v", err)
	}
	return c
}

const grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// The JWT bearer grant (RFC 7523 section 2.1): a machine user signs an
// assertion with a key Castellan generated for it. golang.org/x/oauth2/jwt
// (a third-party client of the grant) obtains a token without client
// authentication; go-jose signs the assertions of the other cases. Every
// rule of the assertion has a refusal: replay, expiry, lifetime, audience,
// issuer, unknown key, alg none, HMAC with the public key, a removed key,
// a deactivated user.
func TestJWTBearer(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		ctx := context.Background()
		tokenURL := s.url + "/oauth/v2/token"
		bot := s.createMachine(t, "ci-bot", "RS256")

		// golang.org/x/oauth2/jwt: iss and sub the user id, kid the key id,
		// aud the token endpoint, exp an hour ahead, a jti of our own.
		conf := oauth2jwt.Config{Email: bot.userID, Subject: bot.userID, PrivateKey: bot.privatePEM, PrivateKeyID: bot.keyID,
			TokenURL: tokenURL, PrivateClaims: map[string]any{"jti": rand.Text()}}
		tok, err := conf.TokenSource(ctx).Token()
		if err != nil {
			t.Fatalf("x/oauth2/jwt: %v", err)
		}
		if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" || tok.Extra("id_token") != nil {
			t.Fatalf("token %+v", tok)
		}
		c := s.accessClaims(t, tok.AccessToken)
		if c["sub"] != bot.userID || c["client_id"] != bot.userID || c["iss"] != s.url || c["scope"] != nil {
			t.Fatalf("claims without a client: %v", c)
		}
		if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != s.url {
			t.Fatalf("aud without a client: %v (want the issuer)", c["aud"])
		}
		// The same assertion again (x/oauth2/jwt reuses the jti): a replay.
		// x/oauth2/jwt does not parse the error; its body says it.
		var re *oauth2.RetrieveError
		if _, err := conf.TokenSource(ctx).Token(); !errors.As(err, &re) || re.Response.StatusCode != 400 || !strings.Contains(string(re.Body), `"invalid_grant"`) {
			t.Fatalf("a replayed assertion: %v", err)
		}

		grant := func(clientID, secret, assertion string, extra url.Values) (int, map[string]any) {
			form := url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}}
			for k, v := range extra {
				form[k] = v
			}
			code, _, body := s.form(t, "/oauth/v2/token", clientID, secret, form)
			return code, body
		}

		// With a client: its id, its project, its scopes.
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Pipelines"}, &project)
		projectID := project.Project.ID
		app, secret := s.createApplication(t, projectID, map[string]any{"name": "deployer", "grantTypes": []string{grantJWTBearer},
			"scopes": []string{"deploy", "read"}})
		code, body := grant(app.ClientID, secret, bot.assertion(t, bot.claims(tokenURL, time.Minute)), url.Values{"scope": {"deploy"}})
		if code != 200 || body["scope"] != "deploy" {
			t.Fatalf("with a client: %d %v", code, body)
		}
		c = s.accessClaims(t, body["access_token"].(string))
		if c["sub"] != bot.userID || c["client_id"] != app.ClientID || c["scope"] != "deploy" {
			t.Fatalf("claims with a client: %v", c)
		}
		if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != projectID {
			t.Fatalf("aud with a client: %v (want the project)", c["aud"])
		}
		goldenJSON(t, "jwt_bearer_access_token_claims", c, "iss", "sub", "aud", "client_id", "iat", "exp", "jti")
		// The issuer as the assertion's audience works as well.
		if code, body := grant("", "", bot.assertion(t, bot.claims(s.url, time.Minute)), nil); code != 200 {
			t.Fatalf("aud the issuer: %d %v", code, body)
		}

		// Resource indicators (RFC 8707): the token is for the named
		// resource server, which may introspect it.
		api, apiSecret := s.createApplication(t, projectID, map[string]any{"name": "deploy-api", "kind": "APPLICATION_KIND_API",
			"resourceUri": "https://deploy.example/api"})
		code, body = grant("", "", bot.assertion(t, bot.claims(tokenURL, time.Minute)), url.Values{"resource": {"https://deploy.example/api"}})
		if code != 200 {
			t.Fatalf("with a resource: %d %v", code, body)
		}
		withResource := body["access_token"].(string)
		if aud, _ := s.accessClaims(t, withResource)["aud"].([]any); len(aud) != 1 || aud[0] != "https://deploy.example/api" {
			t.Fatalf("aud with a resource: %v", aud)
		}
		code, _, body = s.form(t, "/oauth/v2/introspect", api.ClientID, apiSecret, url.Values{"token": {withResource}})
		if code != 200 || body["active"] != true || body["sub"] != bot.userID {
			t.Fatalf("introspection by the resource server: %d %v", code, body)
		}

		noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + bot.keyID + `"}`))
		payload, _ := json.Marshal(bot.claims(tokenURL, time.Minute))
		algNone := noneHeader + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
		pubDER, _ := x509.MarshalPKIXPublicKey(bot.private.Public())
		hmacSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})},
			(&jose.SignerOptions{}).WithHeader("kid", bot.keyID))
		if err != nil {
			t.Fatal(err)
		}
		hs256, _ := jwt.Signed(hmacSigner).Claims(bot.claims(tokenURL, time.Minute)).Serialize()
		other := s.createMachine(t, "other-bot", "ES256")
		stranger := bot.claims(tokenURL, time.Minute)
		stranger.Issuer, stranger.Subject = other.userID, other.userID
		wrongIssuer := bot.claims(tokenURL, time.Minute)
		wrongIssuer.Issuer = "someone"
		noJTI := bot.claims(tokenURL, time.Minute)
		noJTI.ID = ""
		notYet := bot.claims(tokenURL, 10*time.Minute)
		notYet.NotBefore = jwt.NewNumericDate(time.Now().Add(5 * time.Minute))
		unknownKey := bot
		unknownKey.keyID = "no-such-key"
		used := bot.assertion(t, bot.claims(tokenURL, time.Minute))
		if code, body := grant("", "", used, nil); code != 200 {
			t.Fatalf("a fresh assertion: %d %v", code, body)
		}
		for _, tc := range []struct {
			name      string
			assertion string
		}{
			{"fail/a replayed assertion", used},
			{"fail/an expired assertion", bot.assertion(t, bot.claims(tokenURL, -time.Minute))},
			{"fail/an assertion living two hours", bot.assertion(t, bot.claims(tokenURL, 2*time.Hour))},
			{"fail/another audience", bot.assertion(t, bot.claims("https://elsewhere.example/token", time.Minute))},
			{"fail/the introspection endpoint as audience", bot.assertion(t, bot.claims(s.url+"/oauth/v2/introspect", time.Minute))},
			{"fail/alg none", algNone},
			{"fail/HS256 with the public key as secret", hs256},
			{"fail/another user's id with this key", bot.assertion(t, stranger)},
			{"fail/iss not the user", bot.assertion(t, wrongIssuer)},
			{"fail/no jti", bot.assertion(t, noJTI)},
			{"fail/not valid yet", bot.assertion(t, notYet)},
			{"fail/an unknown kid", unknownKey.assertion(t, bot.claims(tokenURL, time.Minute))},
			{"fail/not a JWT", "not.a.jwt"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if code, body := grant("", "", tc.assertion, nil); code != 400 || body["error"] != "invalid_grant" {
					t.Fatalf("%d %v", code, body)
				}
			})
		}
		t.Run("fail/no assertion", func(t *testing.T) {
			if code, body := grant("", "", "", nil); code != 400 || body["error"] != "invalid_request" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/a scope without a client, which does not spend the assertion", func(t *testing.T) {
			a := bot.assertion(t, bot.claims(tokenURL, time.Minute))
			if code, body := grant("", "", a, url.Values{"scope": {"deploy"}}); code != 400 || body["error"] != "invalid_scope" {
				t.Fatalf("%d %v", code, body)
			}
			if code, body := grant("", "", a, nil); code != 200 {
				t.Fatalf("the assertion after the refused scope: %d %v", code, body)
			}
		})
		t.Run("fail/a scope the client did not register", func(t *testing.T) {
			if code, body := grant(app.ClientID, secret, bot.assertion(t, bot.claims(tokenURL, time.Minute)), url.Values{"scope": {"admin"}}); code != 400 || body["error"] != "invalid_scope" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/an unknown resource is invalid_target", func(t *testing.T) {
			for _, res := range []string{"https://unknown.example/", "not a uri", projectID} {
				code, body := grant("", "", bot.assertion(t, bot.claims(tokenURL, time.Minute)), url.Values{"resource": {res}})
				if code != 400 || body["error"] != "invalid_target" {
					t.Fatalf("resource %q: %d %v", res, code, body)
				}
			}
		})
		t.Run("fail/a client not registered for the grant", func(t *testing.T) {
			cc, ccSecret := s.createApplication(t, projectID, map[string]any{"name": "cc-only", "grantTypes": []string{"client_credentials"}})
			if code, body := grant(cc.ClientID, ccSecret, bot.assertion(t, bot.claims(tokenURL, time.Minute)), nil); code != 400 || body["error"] != "unauthorized_client" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/a wrong client secret is invalid_client, not a token without a client", func(t *testing.T) {
			if code, body := grant(app.ClientID, "ccs_wrong", bot.assertion(t, bot.claims(tokenURL, time.Minute)), nil); code != 401 || body["error"] != "invalid_client" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/a removed key", func(t *testing.T) {
			s.api(t, http.MethodDelete, "/v1/users/"+other.userID+"/keys/"+other.keyID, nil, nil)
			if code, body := grant("", "", other.assertion(t, other.claims(tokenURL, time.Minute)), nil); code != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/a deactivated user", func(t *testing.T) {
			s.api(t, http.MethodPost, "/v1/users/"+bot.userID+":deactivate", map[string]any{}, nil)
			code, body := grant("", "", bot.assertion(t, bot.claims(tokenURL, time.Minute)), nil)
			if code != 400 || body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "no longer") {
				t.Fatalf("%d %v", code, body)
			}
		})
	})
}
