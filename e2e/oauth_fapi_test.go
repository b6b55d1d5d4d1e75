package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// apiMessage calls the management API with the server's token and
// returns the status and the error message (or the body), whatever they
// are.
func (s *oauthServer) apiMessage(t *testing.T, method, path string, body any) (int, string) {
	t.Helper()
	code, out := s.apiStatus(t, s.token, method, path, body)
	if msg, ok := out["message"].(string); ok {
		return code, msg
	}
	return code, fmt.Sprint(out)
}

// The FAPI 2.0 Security Profile, per application, through the real HTTP
// interface: a full flow that succeeds — PAR with private_key_jwt (ES256)
// and PKCE S256, the hosted login, the code redeemed with a DPoP proof,
// userinfo with the DPoP-bound token — and the refusal of each rule: the
// switch refused for an application the profile does not allow and a
// change leaving the profile while it is on; an authorization request
// that was not pushed; a pushed request without PKCE; an RS256 assertion,
// and one whose audience is not the issuer alone; a token request without
// a sender constraint (for the code and client_credentials), or with an
// RS256 DPoP proof; the bound token used as a bearer token. The
// authorization response carries iss.
func TestFAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		const password = "correct horse battery staple 1"
		s.createLoginUser(t, b, "alice", password)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "FAPI"}, &project)

		ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &ecKey.PublicKey, KeyID: "ec", Algorithm: "ES256", Use: "sig"},
			{Key: &rsaKey.PublicKey, KeyID: "rsa", Use: "sig"}, // RS256 or PS256
		}})
		const redirect = "http://127.0.0.1/callback"
		spec := map[string]any{"name": "bank", "grantTypes": []string{"authorization_code", "refresh_token", "client_credentials"},
			"redirectUris": []string{redirect}, "authMethod": "private_key_jwt", "jwks": string(jwks), "scopes": []string{"accounts"}}
		app, _ := s.createApplication(t, project.Project.ID, spec)
		secretApp, _ := s.createApplication(t, project.Project.ID, map[string]any{"name": "secret", "grantTypes": []string{"client_credentials"}})

		t.Run("fail/FAPI refused for a client secret", func(t *testing.T) {
			code, body := s.apiMessage(t, http.MethodPut, "/v1/applications/"+secretApp.ID+"/fapi", map[string]any{"enabled": true})
			if code == http.StatusOK || !strings.Contains(body, "private_key_jwt, tls_client_auth and self_signed_tls_client_auth only") {
				t.Fatalf("%d %s", code, body)
			}
		})
		t.Run("fail/FAPI refused with RS256 ID tokens", func(t *testing.T) {
			code, body := s.apiMessage(t, http.MethodPut, "/v1/applications/"+app.ID+"/fapi", map[string]any{"enabled": true})
			if code == http.StatusOK || !strings.Contains(body, "idTokenAlg must be ES256 or EdDSA") {
				t.Fatalf("%d %s", code, body)
			}
		})
		s.api(t, http.MethodPatch, "/v1/applications/"+app.ID, map[string]any{"idTokenAlg": "ES256"}, nil)
		var set struct {
			Application struct {
				Fapi bool `json:"fapi"`
			} `json:"application"`
		}
		s.api(t, http.MethodPut, "/v1/applications/"+app.ID+"/fapi", map[string]any{"enabled": true}, &set)
		if !set.Application.Fapi {
			t.Fatalf("FAPI not on: %+v", set)
		}
		t.Run("fail/a change leaving the profile while it is on", func(t *testing.T) {
			code, body := s.apiMessage(t, http.MethodPatch, "/v1/applications/"+app.ID, map[string]any{"idTokenAlg": "RS256"})
			if code == http.StatusOK || !strings.Contains(body, "turn FAPI off first") {
				t.Fatalf("%d %s", code, body)
			}
		})
		t.Run("fail/an authentication change leaving the profile while it is on", func(t *testing.T) {
			code, body := s.apiMessage(t, http.MethodPut, "/v1/applications/"+app.ID+"/authentication", map[string]any{"authMethod": "client_secret_basic"})
			if code == http.StatusOK || !strings.Contains(body, "turn FAPI off first") {
				t.Fatalf("%d %s", code, body)
			}
		})
		t.Run("fail/a user without project.write cannot turn FAPI off", func(t *testing.T) {
			out, stderr, err := castellan(t, b.env, "tokens", "create", "alice", "1h")
			if err != nil {
				t.Fatalf("tokens create: %v\n%s", err, stderr)
			}
			req, _ := http.NewRequest(http.MethodPut, s.url+"/v1/applications/"+app.ID+"/fapi", strings.NewReader(`{"enabled": false}`))
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
				t.Fatalf("PUT fapi as a plain user: %s", resp.Status)
			}
		})

		var meta struct {
			Issuer string `json:"issuer"`
		}
		s.api(t, http.MethodGet, "/.well-known/openid-configuration", nil, &meta)
		iss := meta.Issuer
		tokenURL, parURL, userinfoURL := s.url+"/oauth/v2/token", s.url+"/oauth/v2/par", s.url+"/oidc/v1/userinfo"
		assertion := func(k any, alg jose.SignatureAlgorithm, kid string, aud ...string) string {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: app.ClientID, Subject: app.ClientID, Audience: aud, ID: rand.Text(),
				IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		withAssertion := func(v url.Values, a string) url.Values {
			out := url.Values{"client_assertion_type": {client.AssertionType}, "client_assertion": {a}}
			for k, vs := range v {
				out[k] = vs
			}
			return out
		}
		verifier := oauth2.GenerateVerifier()
		pushed := url.Values{"client_id": {app.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile offline_access"},
			"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		key := dpoptest.NewKey(t, jose.ES256)
		post := dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL}

		for _, tt := range []struct {
			name  string
			form  url.Values
			code  int
			error string
		}{
			{"fail/PAR with an RS256 assertion", withAssertion(pushed, assertion(rsaKey, jose.RS256, "rsa", iss)), http.StatusUnauthorized, "invalid_client"},
			{"fail/PAR with an assertion for the endpoint's URL", withAssertion(pushed, assertion(ecKey, jose.ES256, "ec", parURL)), http.StatusUnauthorized, "invalid_client"},
			{"fail/PAR with an assertion for the issuer and another audience", withAssertion(pushed, assertion(ecKey, jose.ES256, "ec", iss, "https://elsewhere.example")),
				http.StatusUnauthorized, "invalid_client"},
			{"fail/PAR without PKCE", withAssertion(url.Values{"client_id": {app.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"}},
				assertion(ecKey, jose.ES256, "ec", iss)), http.StatusBadRequest, "invalid_request"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/par", "", "", tt.form, "")
				if code != tt.code || body["error"] != tt.error {
					t.Fatalf("%d %v, want %d %s", code, body, tt.code, tt.error)
				}
			})
		}

		browser := browserClient(t)
		t.Run("fail/an authorization request that was not pushed", func(t *testing.T) {
			resp, err := browser.Get(s.url + "/oauth/v2/authorize?" + url.Values{"client_id": {app.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
				"scope": {"openid"}, "state": {"st"}, "code_challenge": pushed["code_challenge"], "code_challenge_method": {"S256"}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			back, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || back.Query().Get("error") != "invalid_request" || back.Query().Get("iss") != iss ||
				!strings.Contains(back.Query().Get("error_description"), "FAPI 2.0") {
				t.Fatalf("%s %s", resp.Status, back)
			}
		})

		// The flow: PAR (PS256 is allowed too), the login, the code.
		code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/par", "", "", withAssertion(pushed, assertion(rsaKey, jose.PS256, "rsa", iss)), "")
		if code != http.StatusCreated {
			t.Fatalf("PAR: %d %v", code, body)
		}
		back := authorize(t, browser, s.url+"/oauth/v2/authorize?"+url.Values{"client_id": {app.ClientID}, "request_uri": {body["request_uri"].(string)}}.Encode(),
			"alice", password)
		if back.Query().Get("iss") != iss || back.Query().Get("state") != "st" || back.Query().Get("code") == "" {
			t.Fatalf("authorization response without iss, state or code: %s", back)
		}
		codeForm := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
		t.Run("fail/the code redeemed without a DPoP proof", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(codeForm, assertion(ecKey, jose.ES256, "ec", iss)), "")
			if code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("%d %v", code, body)
			}
		})
		code, _, tokens := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(codeForm, assertion(ecKey, jose.ES256, "ec", iss)), "",
			key.Proof(t, post))
		if code != http.StatusOK || tokens["token_type"] != "DPoP" || tokens["id_token"] == nil {
			t.Fatalf("code redemption (not spent by the refusal): %d %v", code, tokens)
		}
		at := tokens["access_token"].(string)
		if jktOf(t, at) != key.JKT(t) {
			t.Fatalf("the access token is not bound to the proof's key")
		}
		idt, err := jwt.ParseSigned(tokens["id_token"].(string), []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.PS256})
		if err != nil {
			t.Fatalf("the ID token is not signed with a FAPI algorithm: %v", err)
		}
		if alg := idt.Headers[0].Algorithm; alg != "ES256" {
			t.Fatalf("ID token alg %s", alg)
		}
		t.Run("ok/refresh keeps its token (no rotation) and needs the proof", func(t *testing.T) {
			rt, _ := tokens["refresh_token"].(string)
			if rt == "" {
				t.Fatalf("no refresh token: %v", tokens)
			}
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			for i := range 2 {
				code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(refresh, assertion(ecKey, jose.ES256, "ec", iss)), "",
					key.Proof(t, post))
				if code != http.StatusOK || body["token_type"] != "DPoP" || body["refresh_token"] != nil {
					t.Fatalf("refresh %d: %d %v", i+1, code, body)
				}
			}
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(refresh, assertion(ecKey, jose.ES256, "ec", iss)), "")
			if code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("refresh without a proof: %d %v", code, body)
			}
		})
		get := dpoptest.Claims{HTM: http.MethodGet, HTU: userinfoURL, AccessToken: at}
		t.Run("ok/userinfo with the DPoP-bound token and its proof", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "DPoP "+at, key.Proof(t, get))
			if code != http.StatusOK || body["sub"] == nil || body["preferred_username"] != "alice" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/the token as a bearer token", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "Bearer "+at)
			if code != http.StatusUnauthorized || body["error"] != "invalid_token" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/the token without its proof", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "DPoP "+at)
			if code != http.StatusUnauthorized || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("%d %v", code, body)
			}
		})

		cc := url.Values{"grant_type": {"client_credentials"}}
		t.Run("fail/client_credentials without a sender constraint", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(cc, assertion(ecKey, jose.ES256, "ec", iss)), "")
			if code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/client_credentials with an RS256 DPoP proof", func(t *testing.T) {
			rsaProof := dpoptest.NewKey(t, jose.RS256)
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(cc, assertion(ecKey, jose.ES256, "ec", iss)), "",
				rsaProof.Proof(t, post))
			if code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" || !strings.Contains(body["error_description"].(string), "PS256, ES256 or EdDSA") {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/client_credentials with an RS256 assertion", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(cc, assertion(rsaKey, jose.RS256, "rsa", iss)), "",
				key.Proof(t, post))
			if code != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("ok/client_credentials with a PS256 assertion and a proof", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(cc, assertion(rsaKey, jose.PS256, "rsa", iss)), "",
				key.Proof(t, post))
			if code != http.StatusOK || body["token_type"] != "DPoP" {
				t.Fatalf("%d %v", code, body)
			}
		})

		t.Run("ok/turned off, the application is held to no profile", func(t *testing.T) {
			s.api(t, http.MethodPut, "/v1/applications/"+app.ID+"/fapi", map[string]any{"enabled": false}, &set)
			if set.Application.Fapi {
				t.Fatalf("FAPI still on")
			}
			time.Sleep(client.CacheTTL + 200*time.Millisecond)
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", withAssertion(cc, assertion(rsaKey, jose.RS256, "rsa", tokenURL)), "")
			if code != http.StatusOK || body["token_type"] != "Bearer" {
				t.Fatalf("%d %v", code, body)
			}
		})
	})
}
