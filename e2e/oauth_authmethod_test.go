package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// apiStatus calls the management API with token and returns the status
// and the decoded body, whatever the status.
func (s *oauthServer) apiStatus(t *testing.T, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// Changing a client's type and authentication method
// (SetApplicationAuthentication): the refusals, a confidential client
// becoming public (its secrets and grants end, PKCE becomes required),
// a public one becoming a secret client (a new secret, shown once), and a
// secret client moving to private_key_jwt (its secrets end).
func TestChangeClientAuthentication(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		ctx := context.Background()
		const password = "correct horse battery staple 1"
		s.createLoginUser(t, b, "alice", password)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Switch"}, &project)
		web, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "web",
			"grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{callbackURI}})
		worker, _ := s.createApplication(t, project.Project.ID, map[string]any{"name": "worker", "grantTypes": []string{"client_credentials"}})
		api, _ := s.createApplication(t, project.Project.ID, map[string]any{"name": "api", "kind": "APPLICATION_KIND_API"})
		path := func(a application) string { return "/v1/applications/" + a.ID + "/authentication" }

		// A refresh token of the confidential client.
		conf := oauth2.Config{ClientID: web.ClientID, ClientSecret: secret, RedirectURL: callbackURI,
			Endpoint: oauth2.Endpoint{AuthURL: s.url + "/oauth/v2/authorize", TokenURL: s.url + "/oauth/v2/token"},
			Scopes:   []string{"openid", "offline_access"}}
		verifier := oauth2.GenerateVerifier()
		back := authorize(t, browserClient(t), conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", password)
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("code flow: %v %+v", err, tok)
		}

		// Refusals, each naming the problem; nothing changes.
		for name, c := range map[string]struct {
			app  application
			body map[string]any
			want string
		}{
			"no method":                         {web, map[string]any{}, "authMethod"},
			"private_key_jwt without keys":      {web, map[string]any{"authMethod": "private_key_jwt"}, "jwks"},
			"a public client with a secret":     {web, map[string]any{"public": true, "authMethod": "client_secret_basic"}, "public client"},
			"none for a confidential client":    {web, map[string]any{"authMethod": "none"}, "public"},
			"the same method":                   {web, map[string]any{"authMethod": "client_secret_basic"}, "already"},
			"post is the same secret":           {web, map[string]any{"authMethod": "client_secret_post"}, "already"},
			"public with client_credentials":    {worker, map[string]any{"public": true, "authMethod": "none"}, "client_credentials"},
			"an API application":                {api, map[string]any{"public": true, "authMethod": "none"}, "API application"},
			"an unknown method":                 {web, map[string]any{"authMethod": "client_secret_jwt"}, "authMethod"},
			"tls_client_auth without a subject": {web, map[string]any{"authMethod": "tls_client_auth"}, "tlsClientAuth"},
			"keys that are not a JWK Set":       {web, map[string]any{"authMethod": "private_key_jwt", "jwks": `{"keys":"x"}`}, "jwks"},
		} {
			code, body := s.apiStatus(t, s.token, http.MethodPut, path(c.app), c.body)
			if code != http.StatusBadRequest || !strings.Contains(body["message"].(string), c.want) {
				t.Errorf("%s: %d %v", name, code, body)
			}
		}
		if code, body := s.apiStatus(t, "", http.MethodPut, path(web), map[string]any{"public": true, "authMethod": "none"}); code != http.StatusUnauthorized {
			t.Errorf("without a token: %d %v", code, body)
		}
		// The owner of another organization cannot see the application;
		// a viewer of this one cannot change it.
		other := mustJSON(t, s.url, s.token, http.MethodPost, "/v1/organizations", map[string]any{"name": "Other"})["organizationId"].(string)
		machineToken := func(login, orgID, role string) string {
			var created struct {
				UserID string `json:"userId"`
			}
			s.api(t, http.MethodPost, "/v1/users", map[string]any{"organizationId": orgID, "type": "machine", "loginName": login,
				"traits": map[string]any{"name": login}}, &created)
			mustJSON(t, s.url, s.token, http.MethodPost, "/v1/organizations/"+orgID+"/members", map[string]any{"userId": created.UserID, "roles": []string{role}})
			out, stderr, err := castellan(t, b.env, "tokens", "create", login, "1h")
			if err != nil {
				t.Fatalf("tokens create: %v\n%s", err, stderr)
			}
			return strings.TrimSpace(out)
		}
		for name, c := range map[string]struct {
			token string
			want  int
		}{
			"another organization's owner": {machineToken("intruder", other, "org.owner"), http.StatusNotFound},
			"a viewer":                     {machineToken("viewer", s.orgID, "org.viewer"), http.StatusForbidden},
		} {
			for _, call := range []struct{ path, body string }{{path(web), "authentication"}, {"/v1/applications/" + web.ID + "/may_act", "may_act"}} {
				body := map[string]any{"public": true, "authMethod": "none"}
				if call.body == "may_act" {
					body = map[string]any{"mayAct": map[string]any{"sub": "someone"}}
				}
				if code, out := s.apiStatus(t, c.token, http.MethodPut, call.path, body); code != c.want {
					t.Errorf("%s, %s: %d %v", name, call.body, code, out)
				}
			}
		}
		if code, _, body := s.form(t, "/oauth/v2/introspect", web.ClientID, secret, url.Values{"token": {tok.AccessToken}}); code != http.StatusOK || body["active"] != true {
			t.Fatalf("a refused change changed the client: %d %v", code, body)
		}

		// A code of the confidential client without PKCE, pending when it
		// becomes public.
		pending := authorize(t, browserClient(t), conf.AuthCodeURL("st-2"), "alice", password).Query().Get("code")

		// Confidential → public: secrets removed, grants ended, PKCE required.
		var changed struct {
			Application struct {
				Public     bool   `json:"public"`
				AuthMethod string `json:"authMethod"`
				Secrets    []any  `json:"secrets"`
			} `json:"application"`
			ClientSecret string `json:"clientSecret"`
			GrantsEnded  int    `json:"grantsEnded"`
		}
		s.api(t, http.MethodPut, path(web), map[string]any{"public": true, "authMethod": "none"}, &changed)
		if !changed.Application.Public || changed.Application.AuthMethod != "none" || len(changed.Application.Secrets) != 0 ||
			changed.ClientSecret != "" || changed.GrantsEnded != 1 {
			t.Fatalf("to public: %+v", changed)
		}
		time.Sleep(1100 * time.Millisecond) // the provider's client cache (1 s)
		if code, _, body := s.form(t, "/oauth/v2/token", "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {web.ClientID},
			"refresh_token": {tok.RefreshToken}}); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("the confidential client's refresh token, now public: %d %v", code, body)
		}
		if code, _, body := s.form(t, "/oauth/v2/introspect", web.ClientID, secret, url.Values{"token": {tok.AccessToken}}); code != http.StatusUnauthorized {
			t.Errorf("the removed secret: %d %v", code, body)
		}
		if code, _, body := s.form(t, "/oauth/v2/token", "", "", url.Values{"grant_type": {"authorization_code"}, "client_id": {web.ClientID},
			"code": {pending}, "redirect_uri": {callbackURI}}); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("a code without PKCE, redeemed by the client become public: %d %v", code, body)
		}
		noPKCE, _ := http.NewRequest(http.MethodGet, s.url+"/oauth/v2/authorize?"+url.Values{"client_id": {web.ClientID}, "response_type": {"code"},
			"redirect_uri": {callbackURI}, "scope": {"openid"}, "state": {"s"}}.Encode(), nil)
		resp, err := browserClient(t).Do(noPKCE)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "invalid_request" {
			t.Errorf("a public client without PKCE: %s %s", resp.Status, resp.Header.Get("Location"))
		}

		// Public → a secret client (sent in the form): a new secret, once.
		s.api(t, http.MethodPut, path(web), map[string]any{"authMethod": "client_secret_post"}, &changed)
		if changed.Application.Public || changed.Application.AuthMethod != "client_secret_basic" || len(changed.Application.Secrets) != 1 ||
			!strings.HasPrefix(changed.ClientSecret, "ccs_") {
			t.Fatalf("to confidential: %+v", changed)
		}
		newSecret := changed.ClientSecret
		if code, _, body := s.form(t, "/oauth/v2/introspect", "", "", url.Values{"token": {tok.AccessToken}, "client_id": {web.ClientID},
			"client_secret": {newSecret}}); code != http.StatusOK {
			t.Fatalf("the new secret in the form: %d %v", code, body)
		}
		var got struct {
			Application struct {
				Secrets []any `json:"secrets"`
			} `json:"application"`
			ClientSecret string `json:"clientSecret"`
		}
		s.api(t, http.MethodGet, "/v1/applications/"+web.ID, nil, &got)
		if len(got.Application.Secrets) != 1 || got.ClientSecret != "" {
			t.Fatalf("the secret is shown once: %+v", got)
		}

		// A secret client → private_key_jwt: the secret ends, the key works.
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		s.api(t, http.MethodPut, path(web), map[string]any{"authMethod": "private_key_jwt", "jwks": string(jwks)}, &changed)
		if changed.Application.AuthMethod != "private_key_jwt" || len(changed.Application.Secrets) != 0 || changed.ClientSecret != "" || changed.GrantsEnded != 0 {
			t.Fatalf("to private_key_jwt: %+v", changed)
		}
		time.Sleep(1100 * time.Millisecond)
		if code, _, body := s.form(t, "/oauth/v2/introspect", web.ClientID, newSecret, url.Values{"token": {tok.AccessToken}}); code != http.StatusUnauthorized {
			t.Errorf("a secret of a private_key_jwt client: %d %v", code, body)
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
		now := time.Now()
		assertion, _ := jwt.Signed(signer).Claims(jwt.Claims{Issuer: web.ClientID, Subject: web.ClientID, Audience: jwt.Audience{s.url},
			ID: rand.Text(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if code, _, body := s.form(t, "/oauth/v2/introspect", "", "", url.Values{"token": {tok.AccessToken},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}); code != http.StatusOK {
			t.Fatalf("the registered key: %d %v", code, body)
		}
	})
}
