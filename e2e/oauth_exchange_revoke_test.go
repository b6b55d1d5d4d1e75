package e2e

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Revoking a token revokes the tokens exchanged from it (RFC 8693 subject
// or actor token), through every further exchange, JWT and opaque alike;
// tokens exchanged from other tokens stay active.
func TestRevokeExchangedTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		tokenURL := s.url + "/oauth/v2/token"
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Shop"}, &project)
		shop := project.Project.ID
		gateway, gatewaySecret := s.createApplication(t, shop, map[string]any{"name": "gateway", "grantTypes": []string{grantJWTBearer}})
		orders, ordersSecret := s.createApplication(t, shop, map[string]any{"name": "orders", "grantTypes": []string{grantTokenExchange, "client_credentials"}})
		support, supportSecret := s.createApplication(t, shop, map[string]any{"name": "support", "accessTokenType": "ACCESS_TOKEN_TYPE_OPAQUE",
			"grantTypes": []string{grantTokenExchange, "client_credentials"}})
		bot := s.createMachine(t, "shopper", "ES256")

		token := func(clientID, secret string, form url.Values) string {
			t.Helper()
			code, _, body := s.form(t, "/oauth/v2/token", clientID, secret, form)
			if code != http.StatusOK {
				t.Fatalf("token: %d %v", code, body)
			}
			return body["access_token"].(string)
		}
		subjectToken := func() string {
			return token(gateway.ClientID, gatewaySecret, url.Values{"grant_type": {grantJWTBearer},
				"assertion": {bot.assertion(t, bot.claims(tokenURL, time.Minute))}})
		}
		own := func(clientID, secret string) string {
			return token(clientID, secret, url.Values{"grant_type": {"client_credentials"}})
		}
		exchange := func(clientID, secret, subject, actor string) string {
			return token(clientID, secret, url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAccess},
				"actor_token": {actor}, "actor_token_type": {tokenTypeAccess}})
		}
		active := func(clientID, secret, raw string) bool {
			t.Helper()
			code, _, body := s.form(t, "/oauth/v2/introspect", clientID, secret, url.Values{"token": {raw}})
			if code != http.StatusOK {
				t.Fatalf("introspect: %d %v", code, body)
			}
			return body["active"] == true
		}
		revoke := func(clientID, secret, raw string) {
			t.Helper()
			if code, _, body := s.form(t, "/oauth/v2/revoke", clientID, secret, url.Values{"token": {raw}}); code != http.StatusOK {
				t.Fatalf("revoke: %d %v", code, body)
			}
		}

		// subject → first (orders, JWT) → second (support, opaque).
		subject, other := subjectToken(), subjectToken()
		first := exchange(orders.ClientID, ordersSecret, subject, own(orders.ClientID, ordersSecret))
		second := exchange(support.ClientID, supportSecret, first, own(support.ClientID, supportSecret))
		unrelated := exchange(orders.ClientID, ordersSecret, other, own(orders.ClientID, ordersSecret))
		if !active(orders.ClientID, ordersSecret, first) || !active(support.ClientID, supportSecret, second) {
			t.Fatal("the exchanged tokens are not active")
		}
		revoke(gateway.ClientID, gatewaySecret, subject)
		if active(orders.ClientID, ordersSecret, first) {
			t.Error("a token exchanged from a revoked subject token is active")
		}
		if active(support.ClientID, supportSecret, second) {
			t.Error("an opaque token exchanged from it in a second hop is active")
		}
		if !active(orders.ClientID, ordersSecret, unrelated) || !active(gateway.ClientID, gatewaySecret, other) {
			t.Error("a revocation reached tokens exchanged from another token")
		}
		// The exchange of a revoked token is refused.
		code, _, body := s.form(t, "/oauth/v2/token", orders.ClientID, ordersSecret, url.Values{"grant_type": {grantTokenExchange},
			"subject_token": {subject}, "subject_token_type": {tokenTypeAccess}, "actor_token": {own(orders.ClientID, ordersSecret)},
			"actor_token_type": {tokenTypeAccess}})
		if code != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Errorf("exchanging a revoked token: %d %v", code, body)
		}

		// Revoking an actor token revokes what was exchanged with it.
		actor := own(orders.ClientID, ordersSecret)
		delegated := exchange(orders.ClientID, ordersSecret, subjectToken(), actor)
		revoke(orders.ClientID, ordersSecret, actor)
		if active(orders.ClientID, ordersSecret, delegated) {
			t.Error("a token exchanged with a revoked actor token is active")
		}
		if !active(orders.ClientID, ordersSecret, unrelated) {
			t.Error("the actor's revocation reached another exchange")
		}
	})
}
