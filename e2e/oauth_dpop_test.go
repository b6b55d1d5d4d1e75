package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	sdk "github.com/castellan-iam/castellan/client"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// dpopCall sends an OAuth request with the DPoP headers proofs (none, one,
// or several) and returns the status, headers and decoded JSON body. A
// form is POSTed (with Basic authentication when secret is set);
// authorization, when set, is the Authorization header of a GET.
func (s *oauthServer) dpopCall(t *testing.T, method, path, clientID, secret string, values url.Values, authorization string, proofs ...string) (int, http.Header, map[string]any) {
	t.Helper()
	var body io.Reader
	if values != nil {
		body = strings.NewReader(values.Encode())
	}
	req, _ := http.NewRequest(method, s.url+path, body)
	if values != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %s is not JSON: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// cnfOf reads the cnf.jkt of a JWT access token, without verifying it
// (TestClientCredentials verifies tokens against the JWKS).
func jktOf(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.Cnf.JKT
}

// DPoP (RFC 9449) end to end, with proofs built by go-jose: bound tokens
// from client_credentials, the authorization code (dpop_jkt, PAR) and
// refresh grants; userinfo with the DPoP scheme; server nonces; and every
// refusal — wrong htm or htu, a replayed jti, a missing nonce, a proof by
// another key, a bound token without its proof or as a bearer token.
func TestDPoP(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		const password = "correct horse battery staple 1"
		s.createLoginUser(t, b, "alice", password)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "DPoP"}, &project)
		m2m, m2mSecret := s.createApplication(t, project.Project.ID, map[string]any{"name": "m2m", "grantTypes": []string{"client_credentials"}})
		opaque, opaqueSecret := s.createApplication(t, project.Project.ID, map[string]any{"name": "opaque", "grantTypes": []string{"client_credentials"},
			"accessTokenType": "ACCESS_TOKEN_TYPE_OPAQUE"})
		strict, strictSecret := s.createApplication(t, project.Project.ID, map[string]any{"name": "strict", "grantTypes": []string{"client_credentials"}})
		var set struct {
			Application struct {
				Dpop struct {
					Required      bool `json:"required"`
					NonceRequired bool `json:"nonceRequired"`
				} `json:"dpop"`
			} `json:"application"`
		}
		s.api(t, http.MethodPut, "/v1/applications/"+strict.ID+"/dpop", map[string]any{"required": true, "nonceRequired": true}, &set)
		if !set.Application.Dpop.Required || !set.Application.Dpop.NonceRequired {
			t.Fatalf("DPoP settings not set: %+v", set)
		}
		t.Run("fail/a user without project.write cannot change DPoP settings", func(t *testing.T) {
			out, stderr, err := castellan(t, b.env, "tokens", "create", "alice", "1h")
			if err != nil {
				t.Fatalf("tokens create: %v\n%s", err, stderr)
			}
			body := strings.NewReader(`{"required": false}`)
			req, _ := http.NewRequest(http.MethodPut, s.url+"/v1/applications/"+strict.ID+"/dpop", body)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
				t.Fatalf("PUT dpop as a plain user: %s", resp.Status)
			}
		})
		native, _ := s.createApplication(t, project.Project.ID, map[string]any{"name": "native", "public": true,
			"grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{"http://127.0.0.1/callback"}})

		tokenURL, userinfoURL := s.url+"/oauth/v2/token", s.url+"/oidc/v1/userinfo"
		key, other := dpoptest.NewKey(t, jose.ES256), dpoptest.NewKey(t, jose.EdDSA)
		cc := url.Values{"grant_type": {"client_credentials"}}
		post := dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL}

		var meta map[string]any
		s.api(t, http.MethodGet, "/.well-known/openid-configuration", nil, &meta)
		if algs, _ := meta["dpop_signing_alg_values_supported"].([]any); !slices.Contains(algs, any("ES256")) || !slices.Contains(algs, any("EdDSA")) ||
			!slices.Contains(algs, any("PS256")) || slices.Contains(algs, any("HS256")) {
			t.Fatalf("dpop_signing_alg_values_supported: %v", meta["dpop_signing_alg_values_supported"])
		}

		t.Run("ok/browser preflights allow the DPoP header", func(t *testing.T) {
			for _, path := range []string{"/oauth/v2/token", "/oidc/v1/userinfo"} {
				req, _ := http.NewRequest(http.MethodOptions, s.url+path, nil)
				req.Header.Set("Origin", "http://127.0.0.1:3000")
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "dpop")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "DPoP") {
					t.Fatalf("OPTIONS %s: %d %v", path, resp.StatusCode, resp.Header)
				}
			}
		})
		t.Run("ok/client_credentials gets a bound JWT", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", m2m.ClientID, m2mSecret, cc, "", key.Proof(t, post))
			if code != http.StatusOK || body["token_type"] != "DPoP" {
				t.Fatalf("%d %v", code, body)
			}
			at := body["access_token"].(string)
			if got := jktOf(t, at); got != key.JKT(t) {
				t.Fatalf("cnf.jkt = %q, want %q", got, key.JKT(t))
			}
			_, _, intro := s.dpopCall(t, http.MethodPost, "/oauth/v2/introspect", m2m.ClientID, m2mSecret, url.Values{"token": {at}}, "")
			if cnf, _ := intro["cnf"].(map[string]any); intro["active"] != true || intro["token_type"] != "DPoP" || cnf["jkt"] != key.JKT(t) {
				t.Fatalf("introspection %v", intro)
			}
			// Without a proof, the same client gets a bearer token.
			code, _, body = s.dpopCall(t, http.MethodPost, "/oauth/v2/token", m2m.ClientID, m2mSecret, cc, "")
			if code != http.StatusOK || body["token_type"] != "Bearer" || jktOf(t, body["access_token"].(string)) != "" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("ok/opaque token: cnf in introspection", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", opaque.ClientID, opaqueSecret, cc, "", key.Proof(t, post))
			if code != http.StatusOK || body["token_type"] != "DPoP" {
				t.Fatalf("%d %v", code, body)
			}
			_, _, intro := s.dpopCall(t, http.MethodPost, "/oauth/v2/introspect", opaque.ClientID, opaqueSecret, url.Values{"token": {body["access_token"].(string)}}, "")
			if cnf, _ := intro["cnf"].(map[string]any); intro["active"] != true || cnf["jkt"] != key.JKT(t) {
				t.Fatalf("introspection %v", intro)
			}
		})
		replayed := key.Proof(t, post)
		if code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", m2m.ClientID, m2mSecret, cc, "", replayed); code != http.StatusOK {
			t.Fatalf("%d %v", code, body)
		}
		for _, tt := range []struct {
			name   string
			proofs []string
		}{
			{"fail/wrong htm", []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: tokenURL})}},
			{"fail/wrong htu", []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: s.url + "/oauth/v2/introspect"})}},
			{"fail/replayed jti", []string{replayed}},
			{"fail/signed by another key than its jwk", []string{other.ProofWithHeaderKey(t, key.JWK(), post)}},
			{"fail/old proof", []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL, IAT: time.Now().Add(-2 * time.Minute)})}},
			{"fail/two proofs", []string{key.Proof(t, post), key.Proof(t, post)}},
			{"fail/not a JWT", []string{"not-a-proof"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", m2m.ClientID, m2mSecret, cc, "", tt.proofs...)
				if code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
					t.Fatalf("%d %v, want 400 invalid_dpop_proof", code, body)
				}
			})
		}
		t.Run("fail/required DPoP without a proof", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", strict.ClientID, strictSecret, cc, "")
			if code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("ok/nonce flow: use_dpop_nonce, then the nonce", func(t *testing.T) {
			code, h, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", strict.ClientID, strictSecret, cc, "", key.Proof(t, post))
			nonce := h.Get("DPoP-Nonce")
			if code != http.StatusBadRequest || body["error"] != "use_dpop_nonce" || nonce == "" {
				t.Fatalf("%d %v nonce %q", code, body, nonce)
			}
			bad := post
			bad.Nonce = "made-up"
			if code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", strict.ClientID, strictSecret, cc, "", key.Proof(t, bad)); code != http.StatusBadRequest || body["error"] != "use_dpop_nonce" {
				t.Fatalf("made-up nonce: %d %v", code, body)
			}
			good := post
			good.Nonce = nonce
			code, h, body = s.dpopCall(t, http.MethodPost, "/oauth/v2/token", strict.ClientID, strictSecret, cc, "", key.Proof(t, good))
			if code != http.StatusOK || body["token_type"] != "DPoP" || h.Get("DPoP-Nonce") == "" {
				t.Fatalf("%d %v", code, body)
			}
		})

		// A public client: the authorization code bound with dpop_jkt, and
		// refresh tokens bound to the key.
		provider := oauth2.Endpoint{AuthURL: s.url + "/oauth/v2/authorize", TokenURL: tokenURL}
		pub := oauth2.Config{ClientID: native.ClientID, Endpoint: provider, RedirectURL: "http://127.0.0.1/callback", Scopes: []string{"openid", "profile", "offline_access"}}
		browser := browserClient(t)
		verifier := oauth2.GenerateVerifier()
		back := authorize(t, browser, pub.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("dpop_jkt", key.JKT(t))), "alice", password)
		codeForm := url.Values{"grant_type": {"authorization_code"}, "client_id": {native.ClientID}, "code": {back.Query().Get("code")},
			"redirect_uri": {"http://127.0.0.1/callback"}, "code_verifier": {verifier}}
		t.Run("fail/dpop_jkt code redeemed without a proof, or with another key", func(t *testing.T) {
			for _, proofs := range [][]string{nil, {other.Proof(t, post)}} {
				code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", codeForm, "", proofs...)
				if code != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Fatalf("%d %v", code, body)
				}
			}
		})
		code, _, tokens := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", codeForm, "", key.Proof(t, post))
		if code != http.StatusOK || tokens["token_type"] != "DPoP" || tokens["refresh_token"] == nil {
			t.Fatalf("code redemption: %d %v", code, tokens)
		}
		at := tokens["access_token"].(string)
		get := dpoptest.Claims{HTM: http.MethodGet, HTU: userinfoURL, AccessToken: at}

		t.Run("ok/userinfo with the DPoP scheme and a proof", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "DPoP "+at, key.Proof(t, get))
			if code != http.StatusOK || body["sub"] == nil {
				t.Fatalf("%d %v", code, body)
			}
		})
		userinfoReplay := key.Proof(t, get)
		s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "DPoP "+at, userinfoReplay)
		for _, tt := range []struct {
			name, authorization string
			proofs              []string
			want                string
		}{
			{"fail/bound token as a bearer token", "Bearer " + at, nil, "invalid_token"},
			{"fail/bound token as a bearer token, with a proof", "Bearer " + at, []string{key.Proof(t, get)}, "invalid_token"},
			{"fail/bound token without its proof", "DPoP " + at, nil, "invalid_dpop_proof"},
			{"fail/proof by another key", "DPoP " + at, []string{other.Proof(t, get)}, "invalid_dpop_proof"},
			{"fail/proof without ath", "DPoP " + at, []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: userinfoURL})}, "invalid_dpop_proof"},
			{"fail/proof for the token endpoint", "DPoP " + at, []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: tokenURL, AccessToken: at})}, "invalid_dpop_proof"},
			{"fail/replayed proof", "DPoP " + at, []string{userinfoReplay}, "invalid_dpop_proof"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				code, h, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, tt.authorization, tt.proofs...)
				if code != http.StatusUnauthorized || body["error"] != tt.want || !strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP ") {
					t.Fatalf("%d %v %q, want 401 %s with a DPoP challenge", code, body, h.Get("WWW-Authenticate"), tt.want)
				}
			})
		}
		t.Run("fail/a bearer token with the DPoP scheme", func(t *testing.T) {
			_, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", m2m.ClientID, m2mSecret, cc, "")
			bearer := body["access_token"].(string)
			code, _, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "DPoP "+bearer,
				key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: userinfoURL, AccessToken: bearer}))
			if code != http.StatusUnauthorized || body["error"] != "invalid_token" {
				t.Fatalf("%d %v", code, body)
			}
		})

		refresh := tokens["refresh_token"].(string)
		refreshForm := func(tok string) url.Values {
			return url.Values{"grant_type": {"refresh_token"}, "client_id": {native.ClientID}, "refresh_token": {tok}}
		}
		t.Run("fail/bound refresh token without its key", func(t *testing.T) {
			for _, proofs := range [][]string{nil, {other.Proof(t, post)}} {
				code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", refreshForm(refresh), "", proofs...)
				if code != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Fatalf("%d %v", code, body)
				}
			}
		})
		t.Run("ok/bound refresh token with its key (not spent by the refusals)", func(t *testing.T) {
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", refreshForm(refresh), "", key.Proof(t, post))
			if code != http.StatusOK || body["token_type"] != "DPoP" || jktOf(t, body["access_token"].(string)) != key.JKT(t) {
				t.Fatalf("%d %v", code, body)
			}
		})

		t.Run("ok/PAR with a proof binds the code", func(t *testing.T) {
			parURL := s.url + "/oauth/v2/par"
			v := url.Values{"client_id": {native.ClientID}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1/callback"}, "scope": {"openid"},
				"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
			if code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/par", "", "", v, "",
				key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL})); code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("PAR with a proof for the token endpoint: %d %v", code, body)
			}
			mismatch := url.Values{}
			for k, vs := range v {
				mismatch[k] = vs
			}
			mismatch.Set("dpop_jkt", other.JKT(t))
			if code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/par", "", "", mismatch, "",
				key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: parURL})); code != http.StatusBadRequest || body["error"] != "invalid_request" {
				t.Fatalf("PAR with dpop_jkt of another key: %d %v", code, body)
			}
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/par", "", "", v, "", key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: parURL}))
			if code != http.StatusCreated {
				t.Fatalf("PAR: %d %v", code, body)
			}
			back := authorize(t, browser, s.url+"/oauth/v2/authorize?"+url.Values{"client_id": {native.ClientID}, "request_uri": {body["request_uri"].(string)}}.Encode(), "alice", password)
			f := url.Values{"grant_type": {"authorization_code"}, "client_id": {native.ClientID}, "code": {back.Query().Get("code")},
				"redirect_uri": {"http://127.0.0.1/callback"}, "code_verifier": {verifier}}
			if code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", f, "", other.Proof(t, post)); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("code of a pushed request redeemed with another key: %d %v", code, body)
			}
			if code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", f, "", key.Proof(t, post)); code != http.StatusOK || body["token_type"] != "DPoP" {
				t.Fatalf("%d %v", code, body)
			}
		})

		t.Run("ok/userinfo nonce flow: 401 use_dpop_nonce, then the nonce", func(t *testing.T) {
			s.api(t, http.MethodPut, "/v1/applications/"+native.ID+"/dpop", map[string]any{"nonceRequired": true}, nil)
			// A replica uses an application's settings for up to
			// client.CacheTTL after a change.
			time.Sleep(client.CacheTTL + 200*time.Millisecond)
			code, h, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "DPoP "+at, key.Proof(t, get))
			nonce := h.Get("DPoP-Nonce")
			if code != http.StatusUnauthorized || body["error"] != "use_dpop_nonce" || nonce == "" ||
				!strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP ") || !strings.Contains(h.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
				t.Fatalf("%d %v %v", code, body, h)
			}
			withNonce := get
			withNonce.Nonce = nonce
			if code, _, body := s.dpopCall(t, http.MethodGet, "/oidc/v1/userinfo", "", "", nil, "DPoP "+at, key.Proof(t, withNonce)); code != http.StatusOK {
				t.Fatalf("%d %v", code, body)
			}
		})
	})
}

// The Go SDK's resource server middleware (client.DPoPResource) in front
// of an API, with tokens from a real Castellan: a DPoP-bound token with its
// proof passes; without its proof, as a bearer token, with a proof of
// another key, for another URL, or replayed, it is refused before the
// handler runs.
func TestDPoPResourceMiddleware(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "API"}, &project)
		m2m, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "m2m", "grantTypes": []string{"client_credentials"}})

		rs, err := sdk.NewDPoPResource(sdk.DPoPResourceConfig{Issuer: s.url, Audience: project.Project.ID})
		if err != nil {
			t.Fatal(err)
		}
		var reached atomic.Int32
		api := httptest.NewServer(rs.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			tok, _ := sdk.DPoPTokenFrom(r.Context())
			_ = json.NewEncoder(w).Encode(map[string]string{"sub": tok.Subject, "jkt": tok.JKT})
		})))
		defer api.Close()
		other, _ := sdk.NewDPoPResource(sdk.DPoPResourceConfig{Issuer: s.url, Audience: "another-api"})
		otherAPI := httptest.NewServer(other.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) })))
		defer otherAPI.Close()

		key, stranger := dpoptest.NewKey(t, jose.ES256), dpoptest.NewKey(t, jose.PS256)
		tokenURL := s.url + "/oauth/v2/token"
		_, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", m2m.ClientID, secret, url.Values{"grant_type": {"client_credentials"}}, "",
			key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL}))
		at, _ := body["access_token"].(string)
		_, _, body = s.dpopCall(t, http.MethodPost, "/oauth/v2/token", m2m.ClientID, secret, url.Values{"grant_type": {"client_credentials"}}, "")
		bearer, _ := body["access_token"].(string)
		if at == "" || bearer == "" {
			t.Fatal("no tokens")
		}
		call := func(base, authorization string, proofs ...string) (int, http.Header) {
			req, _ := http.NewRequest(http.MethodGet, base+"/orders", nil)
			req.Header.Set("Authorization", authorization)
			for _, p := range proofs {
				req.Header.Add("DPoP", p)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode, resp.Header
		}
		get := dpoptest.Claims{HTM: http.MethodGet, HTU: api.URL + "/orders", AccessToken: at}
		ok := key.Proof(t, get)
		if code, _ := call(api.URL, "DPoP "+at, ok); code != http.StatusOK || reached.Load() != 1 {
			t.Fatalf("the bound token with its proof: %d", code)
		}
		for _, tt := range []struct {
			name, base, authorization string
			proofs                    []string
		}{
			{"fail/replayed proof", api.URL, "DPoP " + at, []string{ok}},
			{"fail/no proof", api.URL, "DPoP " + at, nil},
			{"fail/bound token as a bearer token", api.URL, "Bearer " + at, nil},
			{"fail/proof by another key", api.URL, "DPoP " + at, []string{stranger.Proof(t, get)}},
			{"fail/proof for another URL", api.URL, "DPoP " + at, []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: api.URL + "/admin", AccessToken: at})}},
			{"fail/proof for another method", api.URL, "DPoP " + at, []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: api.URL + "/orders", AccessToken: at})}},
			{"fail/proof for another token", api.URL, "DPoP " + at, []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: api.URL + "/orders", AccessToken: bearer})}},
			{"fail/an unbound token", api.URL, "Bearer " + bearer, nil},
			{"fail/a token for another API", otherAPI.URL, "DPoP " + at, []string{key.Proof(t, dpoptest.Claims{HTM: http.MethodGet, HTU: otherAPI.URL + "/orders", AccessToken: at})}},
			{"fail/a forged token", api.URL, "DPoP " + at[:len(at)-4] + "AAAA", []string{key.Proof(t, get)}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := reached.Load()
				code, h := call(tt.base, tt.authorization, tt.proofs...)
				if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP ") || reached.Load() != before {
					t.Fatalf("%d %q, the handler reached: %v", code, h.Get("WWW-Authenticate"), reached.Load() != before)
				}
			})
		}
	})
}
