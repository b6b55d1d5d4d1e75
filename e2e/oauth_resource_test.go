package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"golang.org/x/oauth2"
)

// Resource indicators (RFC 8707) in the authorization code flow:
// golang.org/x/oauth2 asks for two resource servers at the authorization
// endpoint, the access tokens of the code and of each refresh are for
// them (or for the one the token request names), each resource server
// introspects only the tokens for it, and unknown or unauthorized
// resources are invalid_target — at the authorization endpoint (at the
// redirect URI), at PAR, and at the token endpoint without spending the
// code or the refresh token.
func TestResourceIndicators(t *testing.T) {
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
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Store"}, &project)
		const ordersURI, billingURI = "https://orders.example/", "urn:example:billing"
		ordersAPI, ordersSecret := s.createApplication(t, project.Project.ID, map[string]any{"name": "orders-api", "kind": "APPLICATION_KIND_API",
			"resourceUri": ordersURI})
		billingAPI, billingSecret := s.createApplication(t, project.Project.ID, map[string]any{"name": "billing-api", "kind": "APPLICATION_KIND_API",
			"resourceUri": billingURI})
		web, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "store-web",
			"grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{callbackURI}})
		conf := oauth2.Config{ClientID: web.ClientID, ClientSecret: secret, RedirectURL: callbackURI,
			Endpoint: oauth2.Endpoint{AuthURL: s.url + "/oauth/v2/authorize", TokenURL: s.url + "/oauth/v2/token"},
			Scopes:   []string{"openid", "offline_access"}}
		browser := browserClient(t)
		verifier := oauth2.GenerateVerifier()
		authURL := conf.AuthCodeURL("st-r", oauth2.S256ChallengeOption(verifier)) + "&" + url.Values{"resource": {ordersURI, billingURI}}.Encode()
		back := authorize(t, browser, authURL, "alice", password)
		code := back.Query().Get("code")
		if code == "" {
			t.Fatalf("callback %s", back)
		}
		aud := func(raw string) []string {
			t.Helper()
			var out []string
			for _, a := range s.accessClaims(t, raw)["aud"].([]any) {
				out = append(out, a.(string))
			}
			return out
		}

		// A resource that was not authorized is refused, and the code is
		// not spent.
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", "https://other.example/")); !isOAuthError(err, "invalid_target") {
			t.Fatalf("an unauthorized resource: %v", err)
		}
		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", ordersURI))
		if err != nil {
			t.Fatal(err)
		}
		if got := aud(tok.AccessToken); !slices.Equal(got, []string{ordersURI}) {
			t.Fatalf("aud of the code's token %v", got)
		}
		introspect := func(clientID, secret, raw string) any {
			t.Helper()
			code, _, body := s.form(t, "/oauth/v2/introspect", clientID, secret, url.Values{"token": {raw}})
			if code != 200 {
				t.Fatalf("introspect: %d %v", code, body)
			}
			return body["active"]
		}
		if introspect(ordersAPI.ClientID, ordersSecret, tok.AccessToken) != true || introspect(billingAPI.ClientID, billingSecret, tok.AccessToken) != false {
			t.Fatal("introspection: the orders token must be active for orders-api only")
		}

		refresh := func(rt string, resource ...string) (int, map[string]any) {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			if len(resource) > 0 {
				form["resource"] = resource
			}
			code, _, body := s.form(t, "/oauth/v2/token", web.ClientID, secret, form)
			return code, body
		}
		// An unknown resource at refresh is refused before the rotation.
		if code, body := refresh(tok.RefreshToken, "https://other.example/"); code != 400 || body["error"] != "invalid_target" {
			t.Fatalf("refresh with an unauthorized resource: %d %v", code, body)
		}
		code2, body := refresh(tok.RefreshToken)
		if code2 != 200 {
			t.Fatalf("refresh: %d %v", code2, body)
		}
		if got := aud(body["access_token"].(string)); !slices.Equal(got, []string{ordersURI, billingURI}) {
			t.Fatalf("aud after a refresh %v (want both resources of the grant)", got)
		}
		code2, body = refresh(body["refresh_token"].(string), billingURI)
		if code2 != 200 {
			t.Fatalf("refresh for billing: %d %v", code2, body)
		}
		forBilling := body["access_token"].(string)
		if got := aud(forBilling); !slices.Equal(got, []string{billingURI}) {
			t.Fatalf("aud of a narrowed refresh %v", got)
		}
		if introspect(billingAPI.ClientID, billingSecret, forBilling) != true || introspect(ordersAPI.ClientID, ordersSecret, forBilling) != false {
			t.Fatal("introspection: the billing token must be active for billing-api only")
		}

		t.Run("ok/the device flow names a resource at the device authorization endpoint", func(t *testing.T) {
			cli, _ := s.createApplication(t, project.Project.ID, map[string]any{"name": "store-cli", "public": true,
				"grantTypes": []string{"urn:ietf:params:oauth:grant-type:device_code"}})
			dconf := oauth2.Config{ClientID: cli.ClientID, Scopes: []string{"openid"}, Endpoint: oauth2.Endpoint{AuthStyle: oauth2.AuthStyleInParams,
				DeviceAuthURL: s.url + "/oauth/v2/device_authorization", TokenURL: s.url + "/oauth/v2/token"}}
			if code, _, body := s.form(t, "/oauth/v2/device_authorization", "", "", url.Values{"client_id": {cli.ClientID},
				"resource": {"https://unknown.example/"}}); code != 400 || body["error"] != "invalid_target" {
				t.Fatalf("an unknown resource: %d %v", code, body)
			}
			da, err := dconf.DeviceAuth(ctx, oauth2.SetAuthURLParam("resource", billingURI))
			if err != nil {
				t.Fatal(err)
			}
			// alice is signed in in this browser already: the code, then
			// the confirmation.
			page, err := getPage(browser, da.VerificationURIComplete)
			if err != nil {
				t.Fatal(err)
			}
			page, path, err := postForm(browser, s.url+"/ui/login/device", page, url.Values{"user_code": {da.UserCode}})
			if err != nil || path != "/ui/login/device/confirm" {
				t.Fatalf("the user code: %s %v\n%s", path, err, page)
			}
			if _, _, err = postForm(browser, s.url+"/ui/login/device/confirm", page, url.Values{"decision": {"allow"}}); err != nil {
				t.Fatal(err)
			}
			tok, err := dconf.DeviceAccessToken(ctx, da)
			if err != nil {
				t.Fatal(err)
			}
			if got := aud(tok.AccessToken); !slices.Equal(got, []string{billingURI}) {
				t.Fatalf("aud of the device's token %v", got)
			}
		})
		t.Run("fail/an unknown resource at the authorization endpoint returns invalid_target", func(t *testing.T) {
			u := conf.AuthCodeURL("st-x", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", "https://unknown.example/"))
			back := authorize(t, browser, u, "alice", password)
			if q := back.Query(); q.Get("error") != "invalid_target" || q.Get("state") != "st-x" || q.Get("code") != "" {
				t.Fatalf("callback %s", back)
			}
		})
		t.Run("fail/an unknown resource at PAR is invalid_target", func(t *testing.T) {
			code, _, body := s.form(t, "/oauth/v2/par", web.ClientID, secret, url.Values{"response_type": {"code"}, "redirect_uri": {callbackURI},
				"scope": {"openid"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
				"resource": {"https://unknown.example/"}})
			if code != 400 || body["error"] != "invalid_target" {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/an API application's project id is not a resource", func(t *testing.T) {
			u := conf.AuthCodeURL("st-y", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", project.Project.ID))
			if back := authorize(t, browser, u, "alice", password); back.Query().Get("error") != "invalid_target" {
				t.Fatalf("callback %s", back)
			}
		})
	})
}
