package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

// Opaque access tokens: an application that registered them gets tokens
// that tell nothing (cat_…); a resource server introspects them, and a
// revocation ends one at once.
func TestOpaqueAccessTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Opaque"}, &project)
		worker, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "worker", "grantTypes": []string{"client_credentials"},
			"accessTokenType": "ACCESS_TOKEN_TYPE_OPAQUE", "scopes": []string{"reports.read"}})
		api, apiSecret := s.createApplication(t, project.Project.ID, map[string]any{"name": "reports-api", "kind": "APPLICATION_KIND_API"})
		cc := clientcredentials.Config{ClientID: worker.ClientID, ClientSecret: secret, TokenURL: s.url + "/oauth/v2/token"}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(tok.AccessToken, "cat_") || strings.Count(tok.AccessToken, ".") != 0 {
			t.Fatalf("not an opaque token: %q", tok.AccessToken)
		}
		introspect := func() map[string]any {
			code, _, body := s.form(t, "/oauth/v2/introspect", api.ClientID, apiSecret, url.Values{"token": {tok.AccessToken}})
			if code != http.StatusOK {
				t.Fatalf("introspect: %d %v", code, body)
			}
			return body
		}
		if body := introspect(); body["active"] != true || body["client_id"] != worker.ClientID || body["scope"] != "reports.read" ||
			body["iss"] != s.url {
			t.Fatalf("introspection of an opaque token: %v", body)
		}
		if code, _, body := s.form(t, "/oauth/v2/revoke", worker.ClientID, secret, url.Values{"token": {tok.AccessToken}}); code != http.StatusOK {
			t.Fatalf("revoke: %d %v", code, body)
		}
		if body := introspect(); body["active"] != false || len(body) != 1 {
			t.Fatalf("a revoked opaque token: %v", body)
		}
		if body := func() map[string]any {
			_, _, b := s.form(t, "/oauth/v2/introspect", api.ClientID, apiSecret, url.Values{"token": {"cat_" + strings.Repeat("A", 43)}})
			return b
		}(); body["active"] != false {
			t.Fatalf("an unknown opaque token: %v", body)
		}
	})
}
