package e2e

import (
	"github.com/go-jose/go-jose/v4"

	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// may_act (RFC 8693 section 4.4): a client's tokens name who may act for
// their subject (SetApplicationMayAct); a token exchange by anyone else,
// or an impersonation, is refused with invalid_request.
func TestMayAct(t *testing.T) {
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
		orders, ordersSecret := s.createApplication(t, shop, map[string]any{"name": "orders",
			"grantTypes": []string{grantTokenExchange, "client_credentials", grantJWTBearer}})
		intruder, intruderSecret := s.createApplication(t, shop, map[string]any{"name": "intruder",
			"grantTypes": []string{grantTokenExchange, "client_credentials"}, "impersonationAllowed": true})
		api, _ := s.createApplication(t, shop, map[string]any{"name": "api", "kind": "APPLICATION_KIND_API"})
		bot, helper := s.createMachine(t, "shopper", "ES256"), s.createMachine(t, "helper", "ES256")

		token := func(clientID, secret string, form url.Values) (int, map[string]any) {
			code, _, body := s.form(t, "/oauth/v2/token", clientID, secret, form)
			return code, body
		}
		subjectToken := func() string {
			code, body := token(gateway.ClientID, gatewaySecret, url.Values{"grant_type": {grantJWTBearer},
				"assertion": {bot.assertion(t, bot.claims(tokenURL, time.Minute))}})
			if code != http.StatusOK {
				t.Fatalf("subject token: %d %v", code, body)
			}
			return body["access_token"].(string)
		}
		ownToken := func(clientID, secret string) string {
			code, body := token(clientID, secret, url.Values{"grant_type": {"client_credentials"}})
			if code != http.StatusOK {
				t.Fatalf("client_credentials of %s: %d %v", clientID, code, body)
			}
			return body["access_token"].(string)
		}
		exchange := func(clientID, secret, subject, actor string) (int, map[string]any) {
			form := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {subject}, "subject_token_type": {tokenTypeAccess}}
			if actor != "" {
				form.Set("actor_token", actor)
				form.Set("actor_token_type", tokenTypeAccess)
			}
			return token(clientID, secret, form)
		}
		setMayAct := func(m map[string]any) {
			var out struct {
				Application struct {
					MayAct map[string]any `json:"mayAct"`
				} `json:"application"`
			}
			s.api(t, http.MethodPut, "/v1/applications/"+gateway.ID+"/may_act", map[string]any{"mayAct": m}, &out)
			if m != nil && m["sub"] != "" && out.Application.MayAct["sub"] != m["sub"] || (m == nil || m["sub"] == "") && out.Application.MayAct != nil {
				t.Fatalf("may_act set to %v: %v", m, out.Application.MayAct)
			}
			time.Sleep(1100 * time.Millisecond) // the provider's client cache (1 s)
		}
		refused := func(name string, code int, body map[string]any, want string) {
			t.Helper()
			if code != http.StatusBadRequest || body["error"] != "invalid_request" || !strings.Contains(body["error_description"].(string), want) {
				t.Errorf("%s: %d %v", name, code, body)
			}
		}

		// Only orders-svc may act for the gateway's subjects.
		setMayAct(map[string]any{"sub": orders.ClientID})
		subject := subjectToken()
		if c := s.accessClaims(t, subject); c["may_act"] == nil || c["may_act"].(map[string]any)["sub"] != orders.ClientID {
			t.Fatalf("the subject token's may_act: %v", c["may_act"])
		}
		if code, _, intro := s.form(t, "/oauth/v2/introspect", gateway.ClientID, gatewaySecret, url.Values{"token": {subject}}); code != http.StatusOK ||
			intro["may_act"] == nil {
			t.Fatalf("introspection shows may_act: %d %v", code, intro)
		}
		// (With a DPoP proof: the exchanged token is bound to its key.)
		key := dpoptest.NewKey(t, jose.ES256)
		code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", orders.ClientID, ordersSecret, url.Values{"grant_type": {grantTokenExchange},
			"subject_token": {subject}, "subject_token_type": {tokenTypeAccess}, "actor_token": {ownToken(orders.ClientID, ordersSecret)},
			"actor_token_type": {tokenTypeAccess}}, "", key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL}))
		if code != http.StatusOK {
			t.Fatalf("the party may_act names: %d %v", code, body)
		}
		if cnf, _ := s.accessClaims(t, body["access_token"].(string))["cnf"].(map[string]any); body["token_type"] != "DPoP" || cnf["jkt"] != key.JKT(t) {
			t.Fatalf("the exchanged token is not bound to the proof's key: %v %v", body, cnf)
		}
		code, body = exchange(intruder.ClientID, intruderSecret, subject, ownToken(intruder.ClientID, intruderSecret))
		refused("another party", code, body, "may_act")
		code, body = exchange(intruder.ClientID, intruderSecret, subject, "")
		refused("an impersonation", code, body, "may_act")

		// A user acting through a named client: both must match.
		helperToken := func(clientID, secret string) string {
			code, body := token(clientID, secret, url.Values{"grant_type": {grantJWTBearer},
				"assertion": {helper.assertion(t, helper.claims(tokenURL, time.Minute))}})
			if code != http.StatusOK {
				t.Fatalf("helper's token: %d %v", code, body)
			}
			return body["access_token"].(string)
		}
		setMayAct(map[string]any{"sub": helper.userID, "clientId": orders.ClientID})
		if code, body := exchange(orders.ClientID, ordersSecret, subjectToken(), helperToken(orders.ClientID, ordersSecret)); code != http.StatusOK {
			t.Fatalf("the user and client may_act names: %d %v", code, body)
		}
		code, body = exchange(orders.ClientID, ordersSecret, subjectToken(), ownToken(orders.ClientID, ordersSecret))
		refused("the named client acting as itself", code, body, "may_act")
		setMayAct(map[string]any{"sub": helper.userID, "clientId": intruder.ClientID})
		code, body = exchange(orders.ClientID, ordersSecret, subjectToken(), helperToken(orders.ClientID, ordersSecret))
		refused("the named user through another client", code, body, "may_act")

		// Removed: new tokens carry none, and the policy alone decides.
		setMayAct(map[string]any{"sub": ""})
		subject = subjectToken()
		if c := s.accessClaims(t, subject); c["may_act"] != nil {
			t.Fatalf("may_act after its removal: %v", c["may_act"])
		}
		if code, body := exchange(intruder.ClientID, intruderSecret, subject, ownToken(intruder.ClientID, intruderSecret)); code != http.StatusOK {
			t.Fatalf("without may_act: %d %v", code, body)
		}

		// Bad settings.
		for name, c := range map[string]struct {
			app  application
			body map[string]any
			want string
		}{
			"a client id without sub": {gateway, map[string]any{"mayAct": map[string]any{"clientId": orders.ClientID}}, "mayAct.sub"},
			"a sub too long":          {gateway, map[string]any{"mayAct": map[string]any{"sub": strings.Repeat("x", 201)}}, "mayAct.sub"},
			"a control character":     {gateway, map[string]any{"mayAct": map[string]any{"sub": "a\nb"}}, "mayAct.sub"},
			"an API application":      {api, map[string]any{"mayAct": map[string]any{"sub": orders.ClientID}}, "client application"},
		} {
			code, body := s.apiStatus(t, s.token, http.MethodPut, "/v1/applications/"+c.app.ID+"/may_act", c.body)
			if code != http.StatusBadRequest || !strings.Contains(body["message"].(string), c.want) {
				t.Errorf("%s: %d %v", name, code, body)
			}
		}
	})
}
