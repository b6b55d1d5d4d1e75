package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oauthServer is a started Castellan with an owner token for its API.
type oauthServer struct {
	*proc
	token string
	orgID string
}

func startOAuthServer(t *testing.T, b backend) *oauthServer {
	t.Helper()
	p := start(t, b.env)
	token, stderr, err := castellan(t, b.env, "tokens", "create", "admin", "1h")
	if err != nil {
		t.Fatalf("tokens create: %v\n%s", err, stderr)
	}
	s := &oauthServer{proc: p, token: strings.TrimSpace(token)}
	var me struct {
		User struct {
			OrganizationID string `json:"organizationId"`
		} `json:"user"`
	}
	s.api(t, http.MethodGet, "/v1/me", nil, &me)
	s.orgID = me.User.OrganizationID
	return s
}

// api calls the management API over REST and decodes a 200 answer into out.
func (s *oauthServer) api(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

type application struct {
	ID        string `json:"id"`
	ProjectID string `json:"projectId"`
	ClientID  string `json:"clientId"`
}

func (s *oauthServer) createApplication(t *testing.T, projectID string, spec map[string]any) (application, string) {
	t.Helper()
	var created struct {
		Application  application `json:"application"`
		ClientSecret string      `json:"clientSecret"`
	}
	s.api(t, http.MethodPost, "/v1/projects/"+projectID+"/applications", spec, &created)
	return created.Application, created.ClientSecret
}

// form posts an OAuth form with Basic client authentication and returns
// the status, headers and decoded JSON body.
func (s *oauthServer) form(t *testing.T, path, clientID, secret string, values url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("POST %s: %s is not JSON: %v", path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, body
}

// The machine-to-machine provider, driven by third-party clients:
// go-oidc reads the discovery document, golang.org/x/oauth2 obtains
// client_credentials tokens, go-jose verifies them against the JWKS.
func TestClientCredentials(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		ctx := context.Background()
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Billing"}, &project)
		projectID := project.Project.ID
		machine, secret := s.createApplication(t, projectID, map[string]any{"name": "invoice-worker",
			"grantTypes": []string{"client_credentials"}, "scopes": []string{"invoices.read", "invoices.write"}})
		if !strings.HasPrefix(secret, "ccs_") || len(secret) != 4+43 {
			t.Fatalf("client secret %q", secret)
		}
		api, apiSecret := s.createApplication(t, projectID, map[string]any{"name": "invoice-api", "kind": "APPLICATION_KIND_API"})
		public, _ := s.createApplication(t, projectID, map[string]any{"name": "spa", "public": true, "grantTypes": []string{"authorization_code"}, "redirectUris": []string{"http://127.0.0.1/callback"}})

		// go-oidc accepts the discovery document; RFC 8414's is the same.
		provider, err := oidc.NewProvider(ctx, s.url)
		if err != nil {
			t.Fatalf("go-oidc refused the discovery document: %v", err)
		}
		var meta struct {
			Issuer                 string   `json:"issuer"`
			JWKSURI                string   `json:"jwks_uri"`
			IntrospectionEndpoint  string   `json:"introspection_endpoint"`
			RevocationEndpoint     string   `json:"revocation_endpoint"`
			GrantTypesSupported    []string `json:"grant_types_supported"`
			ResponseTypesSupported []string `json:"response_types_supported"`
		}
		if err := provider.Claims(&meta); err != nil {
			t.Fatal(err)
		}
		if meta.Issuer != s.url || provider.Endpoint().TokenURL != s.url+"/oauth/v2/token" || meta.JWKSURI != s.url+"/oauth/v2/keys" {
			t.Fatalf("discovery: %+v, token endpoint %s", meta, provider.Endpoint().TokenURL)
		}
		if code, body := get(t, http.DefaultClient, s.url+"/.well-known/oauth-authorization-server", ""); code != 200 || !strings.Contains(body, `"issuer":"`+s.url+`"`) {
			t.Fatalf("RFC 8414 metadata: %d %s", code, body)
		}

		// x/oauth2 obtains a token, with client_secret_basic and _post.
		var raw string
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cc := clientcredentials.Config{ClientID: machine.ClientID, ClientSecret: secret, TokenURL: provider.Endpoint().TokenURL,
				Scopes: []string{"invoices.read"}, AuthStyle: style}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("client_credentials (auth style %d): %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.Extra("scope") != "invoices.read" {
				t.Fatalf("token response %+v scope %v", tok, tok.Extra("scope"))
			}
			raw = tok.AccessToken
		}

		// The JWT verifies against the published keys, and says RFC 9068's claims.
		code, jwksBody := get(t, http.DefaultClient, meta.JWKSURI, "")
		var jwks jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(jwksBody), &jwks); code != 200 || err != nil || len(jwks.Keys) < 2 {
			t.Fatalf("JWKS %d %s: %v (want a current and a next key)", code, jwksBody, err)
		}
		parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		h := parsed.Headers[0]
		if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.Algorithm != "ES256" || len(jwks.Key(h.KeyID)) != 1 {
			t.Fatalf("header %+v", h)
		}
		var claims struct {
			jwt.Claims
			ClientID string `json:"client_id"`
			Scope    string `json:"scope"`
		}
		if err := parsed.Claims(jwks.Key(h.KeyID)[0].Key, &claims); err != nil {
			t.Fatalf("the token does not verify with the published key: %v", err)
		}
		if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: s.url, Subject: machine.ClientID, AnyAudience: jwt.Audience{projectID}, Time: time.Now()}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if claims.ClientID != machine.ClientID || claims.Scope != "invoices.read" || claims.ID == "" || claims.IssuedAt == nil ||
			claims.Expiry.Time().Sub(claims.IssuedAt.Time()) != 12*time.Hour {
			t.Fatalf("claims %+v", claims)
		}
		if _, err := oidc.NewRemoteKeySet(ctx, meta.JWKSURI).VerifySignature(ctx, raw); err != nil {
			t.Fatalf("go-oidc's key set does not verify the token: %v", err)
		}

		// Introspection: by the API of the project, and by the client itself.
		for _, caller := range []struct{ id, secret string }{{api.ClientID, apiSecret}, {machine.ClientID, secret}} {
			code, _, body := s.form(t, "/oauth/v2/introspect", caller.id, caller.secret, url.Values{"token": {raw}})
			if code != 200 || body["active"] != true || body["client_id"] != machine.ClientID || body["sub"] != machine.ClientID ||
				body["scope"] != "invoices.read" || body["iss"] != s.url || body["jti"] != claims.ID {
				t.Fatalf("introspection by %s: %d %v", caller.id, code, body)
			}
		}
		// Revocation by the client makes it inactive.
		if code, _, body := s.form(t, "/oauth/v2/revoke", api.ClientID, apiSecret, url.Values{"token": {raw}}); code != 400 || body["error"] != "unauthorized_client" {
			t.Fatalf("another client revoked the token: %d %v", code, body)
		}
		if code, _, _ := s.form(t, "/oauth/v2/revoke", machine.ClientID, secret, url.Values{"token": {raw}, "token_type_hint": {"access_token"}}); code != 200 {
			t.Fatalf("revoke: %d", code)
		}
		code, _, body := s.form(t, "/oauth/v2/introspect", api.ClientID, apiSecret, url.Values{"token": {raw}})
		if code != 200 || body["active"] != false || len(body) != 1 {
			t.Fatalf("introspection after revocation: %d %v", code, body)
		}
		if code, _, _ := s.form(t, "/oauth/v2/revoke", machine.ClientID, secret, url.Values{"token": {raw}}); code != 200 {
			t.Fatalf("revoking again: %d", code)
		}

		grant := url.Values{"grant_type": {"client_credentials"}}
		t.Run("fail/wrong secret is 401 invalid_client with a challenge", func(t *testing.T) {
			wrong := secret[:len(secret)-1] + "A"
			if wrong == secret {
				wrong = secret[:len(secret)-1] + "B"
			}
			code, h, body := s.form(t, "/oauth/v2/token", machine.ClientID, wrong, grant)
			if code != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("%d %v %v", code, h, body)
			}
			cc := clientcredentials.Config{ClientID: machine.ClientID, ClientSecret: "ccs_wrong", TokenURL: provider.Endpoint().TokenURL}
			var re *oauth2.RetrieveError
			if _, err := cc.Token(ctx); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
				t.Fatalf("x/oauth2 with a wrong secret: %v", err)
			}
		})
		t.Run("fail/unknown grant type", func(t *testing.T) {
			code, _, body := s.form(t, "/oauth/v2/token", machine.ClientID, secret, url.Values{"grant_type": {"password"}})
			if code != 400 || body["error"] != "unsupported_grant_type" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/a public client cannot use client_credentials", func(t *testing.T) {
			code, _, body := s.form(t, "/oauth/v2/token", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {public.ClientID}})
			if code != 400 || body["error"] != "unauthorized_client" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/a scope the client did not register", func(t *testing.T) {
			code, _, body := s.form(t, "/oauth/v2/token", machine.ClientID, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})
			if code != 400 || body["error"] != "invalid_scope" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/an API application obtains no tokens", func(t *testing.T) {
			code, _, body := s.form(t, "/oauth/v2/token", api.ClientID, apiSecret, grant)
			if code != 400 || body["error"] != "unauthorized_client" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("ok/a rotated secret works during the overlap and fails after it", func(t *testing.T) {
			var rotated struct {
				ClientSecret string `json:"clientSecret"`
			}
			s.api(t, http.MethodPost, "/v1/applications/"+machine.ID+"/secrets", map[string]any{"overlap": "2s"}, &rotated)
			for _, sec := range []string{secret, rotated.ClientSecret} {
				if code, _, body := s.form(t, "/oauth/v2/token", machine.ClientID, sec, grant); code != 200 {
					t.Fatalf("during the overlap: %d %v", code, body)
				}
			}
			time.Sleep(3 * time.Second)
			if code, _, body := s.form(t, "/oauth/v2/token", machine.ClientID, secret, grant); code != 401 || body["error"] != "invalid_client" {
				t.Fatalf("the old secret after the overlap: %d %v", code, body)
			}
			if code, _, body := s.form(t, "/oauth/v2/token", machine.ClientID, rotated.ClientSecret, grant); code != 200 {
				t.Fatalf("the new secret after the overlap: %d %v", code, body)
			}
		})
	})
}
