package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// Token exchange (RFC 8693) through the token endpoint: delegation with
// an actor token (act claim, nested for a second hop), impersonation by a
// client allowed to, resource indicators, narrower scopes, the audit
// event of every exchange, and the refusals: a revoked, foreign or
// malformed subject token, an ID token, an actor token of another
// client, impersonation without permission, a client without the grant,
// a client of another project, a deactivated subject.
func TestTokenExchange(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		tokenURL := s.url + "/oauth/v2/token"
		newProject := func(name string) string {
			var p struct {
				Project struct {
					ID string `json:"id"`
				} `json:"project"`
			}
			s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": name}, &p)
			return p.Project.ID
		}
		shop, other := newProject("Shop"), newProject("Other")
		gateway, gatewaySecret := s.createApplication(t, shop, map[string]any{"name": "gateway",
			"grantTypes": []string{grantJWTBearer, "client_credentials"}, "scopes": []string{"orders.read", "orders.write"}})
		orders, ordersSecret := s.createApplication(t, shop, map[string]any{"name": "orders-svc",
			"grantTypes": []string{grantTokenExchange, "client_credentials"}, "scopes": []string{"orders.read"}})
		support, supportSecret := s.createApplication(t, shop, map[string]any{"name": "support-tool",
			"grantTypes": []string{grantTokenExchange, "client_credentials"}, "impersonationAllowed": true})
		ccOnly, ccOnlySecret := s.createApplication(t, shop, map[string]any{"name": "cc-only", "grantTypes": []string{"client_credentials"}})
		foreign, foreignSecret := s.createApplication(t, other, map[string]any{"name": "foreign",
			"grantTypes": []string{grantTokenExchange}, "impersonationAllowed": true})
		billing, billingSecret := s.createApplication(t, other, map[string]any{"name": "billing-api", "kind": "APPLICATION_KIND_API",
			"resourceUri": "https://billing.example/"})
		bot := s.createMachine(t, "shopper", "ES256")

		token := func(clientID, secret string, form url.Values) (int, map[string]any) {
			code, _, body := s.form(t, "/oauth/v2/token", clientID, secret, form)
			return code, body
		}
		// The subject: the machine user's token, obtained by the gateway.
		subjectToken := func() string {
			code, body := token(gateway.ClientID, gatewaySecret, url.Values{"grant_type": {grantJWTBearer},
				"assertion": {bot.assertion(t, bot.claims(tokenURL, time.Minute))}})
			if code != 200 {
				t.Fatalf("subject token: %d %v", code, body)
			}
			return body["access_token"].(string)
		}
		ownToken := func(clientID, secret string) string {
			code, body := token(clientID, secret, url.Values{"grant_type": {"client_credentials"}})
			if code != 200 {
				t.Fatalf("client_credentials of %s: %d %v", clientID, code, body)
			}
			return body["access_token"].(string)
		}
		exchange := func(clientID, secret, subject, actor string, extra url.Values) (int, map[string]any) {
			form := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAccess}}
			if actor != "" {
				form.Set("actor_token", actor)
				form.Set("actor_token_type", tokenTypeAccess)
			}
			for k, v := range extra {
				form[k] = v
			}
			return token(clientID, secret, form)
		}
		db := openDB(t, b)
		exchangedEvent := func(jti string) (map[string]any, string, string) {
			t.Helper()
			var payload, editorUser, editorClient string
			err := db.Reader().QueryRow(`SELECT payload, editor_user, editor_client FROM events WHERE event_type = 'oauth.token.exchanged' AND aggregate_id = $1`,
				jti).Scan(&payload, &editorUser, &editorClient)
			if err != nil {
				t.Fatalf("the exchange of %s is not recorded: %v", jti, err)
			}
			var p map[string]any
			if err := json.Unmarshal([]byte(payload), &p); err != nil {
				t.Fatal(err)
			}
			return p, editorUser, editorClient
		}

		subject := subjectToken()
		subjectClaims := s.accessClaims(t, subject)
		ordersOwn := ownToken(orders.ClientID, ordersSecret)

		// Delegation: orders-svc acts for the machine user.
		code, body := exchange(orders.ClientID, ordersSecret, subject, ordersOwn, nil)
		if code != 200 || body["issued_token_type"] != tokenTypeAccess || body["token_type"] != "Bearer" || body["scope"] != "orders.read orders.write" {
			t.Fatalf("delegation: %d %v", code, body)
		}
		delegated := body["access_token"].(string)
		c := s.accessClaims(t, delegated)
		act, _ := c["act"].(map[string]any)
		if c["sub"] != bot.userID || c["client_id"] != orders.ClientID || act["sub"] != orders.ClientID || act["client_id"] != orders.ClientID || act["act"] != nil {
			t.Fatalf("delegated claims: %v", c)
		}
		if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != shop {
			t.Fatalf("delegated aud %v", c["aud"])
		}
		goldenJSON(t, "exchange_response", body, "access_token", "expires_in")
		goldenJSON(t, "exchange_access_token_claims", withActShape(c), "iss", "sub", "aud", "client_id", "iat", "exp", "jti")
		code, _, intro := s.form(t, "/oauth/v2/introspect", orders.ClientID, ordersSecret, url.Values{"token": {delegated}})
		if code != 200 || intro["active"] != true {
			t.Fatalf("introspection of the delegated token: %d %v", code, intro)
		}
		goldenJSON(t, "exchange_introspection", withActShape(intro), "iss", "sub", "aud", "client_id", "iat", "exp", "jti")
		if c["exp"].(float64) > subjectClaims["exp"].(float64) {
			t.Fatalf("the exchanged token outlives the subject token: %v > %v", c["exp"], subjectClaims["exp"])
		}
		p, editorUser, editorClient := exchangedEvent(c["jti"].(string))
		if p["subject"] != bot.userID || p["subjectTokenId"] != subjectClaims["jti"] || p["subjectClientId"] != gateway.ClientID ||
			p["actor"] != orders.ClientID || p["actorClientId"] != orders.ClientID || p["clientId"] != orders.ClientID || p["impersonation"] != false ||
			editorClient != orders.ClientID || editorUser != "" {
			t.Fatalf("the delegation's event: %v (editor %q %q)", p, editorUser, editorClient)
		}

		// A second hop: support-tool acts with orders-svc's delegated
		// token as the subject; the first actor is nested.
		code, body = exchange(support.ClientID, supportSecret, delegated, ownToken(support.ClientID, supportSecret), nil)
		if code != 200 {
			t.Fatalf("second hop: %d %v", code, body)
		}
		c = s.accessClaims(t, body["access_token"].(string))
		act, _ = c["act"].(map[string]any)
		inner, _ := act["act"].(map[string]any)
		if c["sub"] != bot.userID || act["sub"] != support.ClientID || inner["sub"] != orders.ClientID {
			t.Fatalf("nested act: %v", c)
		}

		// Impersonation by a client allowed to: no act; recorded as such.
		code, body = exchange(support.ClientID, supportSecret, subject, "", url.Values{"scope": {"orders.read"}})
		if code != 200 || body["scope"] != "orders.read" {
			t.Fatalf("impersonation: %d %v", code, body)
		}
		c = s.accessClaims(t, body["access_token"].(string))
		if c["sub"] != bot.userID || c["client_id"] != support.ClientID || c["act"] != nil {
			t.Fatalf("impersonation claims: %v", c)
		}
		if p, _, _ := exchangedEvent(c["jti"].(string)); p["impersonation"] != true || p["actor"] != nil || p["subject"] != bot.userID {
			t.Fatalf("the impersonation's event: %v", p)
		}
		// Impersonating a delegated token keeps its actor.
		code, body = exchange(support.ClientID, supportSecret, delegated, "", nil)
		if code != 200 {
			t.Fatalf("impersonation of a delegated token: %d %v", code, body)
		}
		if act, _ := s.accessClaims(t, body["access_token"].(string))["act"].(map[string]any); act["sub"] != orders.ClientID {
			t.Fatalf("impersonation dropped the actor: %v", act)
		}

		// A signed-in person's token: the web application of the project
		// signs alice in; the support tool impersonates her, and the token
		// keeps her session and reads her claims at userinfo.
		const password = "correct horse battery staple 1"
		s.createLoginUser(t, b, "alice", password)
		web, webSecret := s.createApplication(t, shop, map[string]any{"name": "web",
			"grantTypes": []string{"authorization_code"}, "redirectUris": []string{callbackURI}})
		conf := oauth2.Config{ClientID: web.ClientID, ClientSecret: webSecret, RedirectURL: callbackURI, Scopes: []string{"openid", "email"},
			Endpoint: oauth2.Endpoint{AuthURL: s.url + "/oauth/v2/authorize", TokenURL: tokenURL}}
		verifier := oauth2.GenerateVerifier()
		back := authorize(t, browserClient(t), conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", password)
		aliceTok, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		aliceClaims := s.accessClaims(t, aliceTok.AccessToken)
		code, body = exchange(support.ClientID, supportSecret, aliceTok.AccessToken, "", nil)
		if code != 200 || body["scope"] != "openid email" {
			t.Fatalf("impersonating alice: %d %v", code, body)
		}
		c = s.accessClaims(t, body["access_token"].(string))
		if c["sub"] != aliceClaims["sub"] || c["sid"] != aliceClaims["sid"] || c["auth_time"] != aliceClaims["auth_time"] || c["client_id"] != support.ClientID {
			t.Fatalf("alice's exchanged token %v; hers %v", c, aliceClaims)
		}
		req, _ := http.NewRequest(http.MethodGet, s.url+"/oidc/v1/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var info map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		if resp.StatusCode != 200 || info["sub"] != aliceClaims["sub"] || info["email"] != "alice@example.com" {
			t.Fatalf("userinfo with the exchanged token: %d %v", resp.StatusCode, info)
		}

		// Resource indicators: a token for billing's resource server, which
		// introspects it and sees the actor.
		code, body = exchange(orders.ClientID, ordersSecret, subject, ordersOwn, url.Values{"resource": {"https://billing.example/"}})
		if code != 200 {
			t.Fatalf("with a resource: %d %v", code, body)
		}
		forBilling := body["access_token"].(string)
		if aud, _ := s.accessClaims(t, forBilling)["aud"].([]any); len(aud) != 1 || aud[0] != "https://billing.example/" {
			t.Fatalf("aud %v", aud)
		}
		code, _, body = s.form(t, "/oauth/v2/introspect", billing.ClientID, billingSecret, url.Values{"token": {forBilling}})
		if act, _ := body["act"].(map[string]any); code != 200 || body["active"] != true || body["sub"] != bot.userID || act["sub"] != orders.ClientID {
			t.Fatalf("introspection by the resource server: %d %v", code, body)
		}
		// ... and so the foreign project's client may exchange it.
		if code, body := exchange(foreign.ClientID, foreignSecret, forBilling, "", nil); code != 200 {
			t.Fatalf("exchange of a token for the client's project's resource: %d %v", code, body)
		}
		// The audience parameter names resources too.
		if code, body := exchange(orders.ClientID, ordersSecret, subject, ordersOwn, url.Values{"audience": {"https://billing.example/"}}); code != 200 {
			t.Fatalf("with an audience: %d %v", code, body)
		}

		revoked := subjectToken()
		if code, _, body := s.form(t, "/oauth/v2/revoke", gateway.ClientID, gatewaySecret, url.Values{"token": {revoked}}); code != 200 {
			t.Fatalf("revoke: %d %v", code, body)
		}
		for _, tc := range []struct {
			name             string
			clientID, secret string
			form             url.Values
			code             int
			err              string
		}{
			{"fail/a revoked subject token", orders.ClientID, ordersSecret,
				url.Values{"subject_token": {revoked}, "actor_token": {ordersOwn}, "actor_token_type": {tokenTypeAccess}}, 400, "invalid_request"},
			{"fail/impersonation without permission", orders.ClientID, ordersSecret, url.Values{}, 400, "invalid_request"},
			{"fail/a client without the grant", ccOnly.ClientID, ccOnlySecret, url.Values{}, 400, "unauthorized_client"},
			{"fail/a client of another project", foreign.ClientID, foreignSecret, url.Values{}, 400, "invalid_request"},
			{"fail/an actor token of another client", orders.ClientID, ordersSecret,
				url.Values{"actor_token": {ownToken(gateway.ClientID, gatewaySecret)}, "actor_token_type": {tokenTypeAccess}}, 400, "invalid_request"},
			{"fail/an actor token without its type", orders.ClientID, ordersSecret, url.Values{"actor_token": {ordersOwn}}, 400, "invalid_request"},
			{"fail/an ID token type", support.ClientID, supportSecret,
				url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, 400, "invalid_request"},
			{"fail/no subject token type", support.ClientID, supportSecret, url.Values{"subject_token_type": {""}}, 400, "invalid_request"},
			{"fail/no subject token", support.ClientID, supportSecret, url.Values{"subject_token": {""}}, 400, "invalid_request"},
			{"fail/a forged subject token", support.ClientID, supportSecret, url.Values{"subject_token": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}}, 400, "invalid_request"},
			{"fail/an unknown opaque subject token", support.ClientID, supportSecret, url.Values{"subject_token": {"cat_nothing"}}, 400, "invalid_request"},
			{"fail/a refresh token requested", support.ClientID, supportSecret,
				url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, 400, "invalid_request"},
			{"fail/a scope the subject token lacks", support.ClientID, supportSecret, url.Values{"scope": {"admin"}}, 400, "invalid_scope"},
			{"fail/an unknown resource", support.ClientID, supportSecret, url.Values{"resource": {"https://unknown.example/"}}, 400, "invalid_target"},
			{"fail/an unknown audience", support.ClientID, supportSecret, url.Values{"audience": {"orders"}}, 400, "invalid_target"},
			{"fail/a wrong secret", support.ClientID, "ccs_wrong", url.Values{}, 401, "invalid_client"},
			{"fail/no client", "", "", url.Values{}, 401, "invalid_client"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				form := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAccess}}
				for k, v := range tc.form {
					form[k] = v
				}
				if code, body := token(tc.clientID, tc.secret, form); code != tc.code || body["error"] != tc.err {
					t.Fatalf("%d %v; want %d %s", code, body, tc.code, tc.err)
				}
			})
		}
		t.Run("fail/a project that does not let the user in", func(t *testing.T) {
			// Locked requires an authorization, which the machine user
			// lacks: its client gets no token for the user, and no other
			// client a token for its resource server.
			locked := newProject("Locked")
			s.api(t, http.MethodPut, "/v1/projects/"+locked+"/settings", map[string]any{"settings": map[string]any{"requireAuthorization": true}}, nil)
			s.createApplication(t, locked, map[string]any{"name": "locked-api", "kind": "APPLICATION_KIND_API", "resourceUri": "https://locked.example/"})
			lockedSvc, lockedSecret := s.createApplication(t, locked, map[string]any{"name": "locked-svc",
				"grantTypes": []string{grantTokenExchange, grantJWTBearer}, "impersonationAllowed": true})
			if code, body := exchange(orders.ClientID, ordersSecret, subject, ordersOwn, url.Values{"resource": {"https://locked.example/"}}); code != 400 || body["error"] != "invalid_target" {
				t.Fatalf("exchange for the locked resource: %d %v", code, body)
			}
			if code, body := token(gateway.ClientID, gatewaySecret, url.Values{"grant_type": {grantJWTBearer}, "resource": {"https://locked.example/"},
				"assertion": {bot.assertion(t, bot.claims(tokenURL, time.Minute))}}); code != 400 || body["error"] != "invalid_target" {
				t.Fatalf("JWT bearer for the locked resource: %d %v", code, body)
			}
			if code, body := token(lockedSvc.ClientID, lockedSecret, url.Values{"grant_type": {grantJWTBearer},
				"assertion": {bot.assertion(t, bot.claims(tokenURL, time.Minute))}}); code != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("JWT bearer through the locked project's client: %d %v", code, body)
			}
			// Without the user, the resource is fine: the client's own token.
			if code, body := token(orders.ClientID, ordersSecret, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://locked.example/"}}); code != 200 {
				t.Fatalf("client_credentials for the locked resource: %d %v", code, body)
			}
		})
		t.Run("fail/a deactivated subject", func(t *testing.T) {
			s.api(t, http.MethodPost, "/v1/users/"+bot.userID+":deactivate", map[string]any{}, nil)
			if code, body := exchange(support.ClientID, supportSecret, subject, "", nil); code != 400 || body["error"] != "invalid_request" {
				t.Fatalf("%d %v", code, body)
			}
		})
	})
}

// withActShape replaces the values of a document's act claim, which name
// clients of the run, by their JSON types, for goldenJSON.
func withActShape(doc map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range doc {
		out[k] = v
	}
	if act, ok := doc["act"].(map[string]any); ok {
		shape := map[string]any{}
		for k, v := range act {
			shape[k] = "<" + jsonType(v) + ">"
		}
		out["act"] = shape
	}
	return out
}
