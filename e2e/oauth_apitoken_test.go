package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// The management API accepts the provider's access tokens whose audience
// is the issuer: a machine user's JWT bearer token (without a client)
// calls the API with the machine's own permissions — none at first, then
// an organization's, never another organization's. Tokens for another
// audience, DPoP-bound tokens, ID tokens and garbage are refused.
func TestManagementAPIWithAccessTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		tokenURL := s.url + "/oauth/v2/token"
		other := mustJSON(t, s.url, s.token, http.MethodPost, "/v1/organizations", map[string]any{"name": "Other"})["organizationId"].(string)
		robot := s.createMachine(t, "robot", "ES256")
		bearer := func(form url.Values, proof string) map[string]any {
			t.Helper()
			form.Set("grant_type", grantJWTBearer)
			form.Set("assertion", robot.assertion(t, robot.claims(tokenURL, time.Minute)))
			var proofs []string
			if proof != "" {
				proofs = append(proofs, proof)
			}
			code, _, body := s.dpopCall(t, http.MethodPost, "/oauth/v2/token", "", "", form, "", proofs...)
			if code != http.StatusOK {
				t.Fatalf("JWT bearer: %d %v", code, body)
			}
			return body
		}
		apiToken := bearer(url.Values{}, "")["access_token"].(string)

		// Its own permissions: who it is, and nothing else yet.
		code, me := jsonCall(t, s.url, apiToken, http.MethodGet, "/v1/me", nil)
		if code != http.StatusOK || me["user"].(map[string]any)["id"] != robot.userID {
			t.Fatalf("GET /v1/me with an access token: %d %v", code, me)
		}
		project := map[string]any{"organizationId": s.orgID, "name": "Robots"}
		if code, body := jsonCall(t, s.url, apiToken, http.MethodPost, "/v1/projects", project); code != http.StatusForbidden {
			t.Fatalf("a machine without roles created a project: %d %v", code, body)
		}
		// An owner of the first organization: that one, not the other.
		mustJSON(t, s.url, s.token, http.MethodPost, "/v1/organizations/"+s.orgID+"/members", map[string]any{"userId": robot.userID, "roles": []string{"org.owner"}})
		if code, body := jsonCall(t, s.url, apiToken, http.MethodPost, "/v1/projects", project); code != http.StatusOK {
			t.Fatalf("the organization's owner: %d %v", code, body)
		}
		// The change records the token as the editor's session.
		var claims struct {
			ID string `json:"jti"`
		}
		if parts := strings.Split(apiToken, "."); len(parts) == 3 {
			raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(raw, &claims)
		}
		// (Pages are settled: on PostgreSQL an event shows once no
		// transaction in flight anywhere in the cluster precedes it.)
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			made := mustJSON(t, s.url, s.token, http.MethodGet, "/v1/events?eventTypes=project.added&editorSessionId="+url.QueryEscape(claims.ID), nil)
			evs, _ := made["events"].([]any)
			if claims.ID != "" && len(evs) == 1 && evs[0].(map[string]any)["editorUserId"] == robot.userID {
				break
			}
			if claims.ID == "" || len(evs) > 1 || time.Now().After(deadline) {
				t.Fatalf("events made with the access token %q: %v", claims.ID, made)
			}
		}
		if code, body := jsonCall(t, s.url, apiToken, http.MethodPost, "/v1/projects", map[string]any{"organizationId": other, "name": "Robots"}); code != http.StatusForbidden && code != http.StatusNotFound {
			t.Fatalf("another organization's project: %d %v", code, body)
		}
		if code, body := jsonCall(t, s.url, apiToken, http.MethodGet, "/v1/organizations/"+other, nil); code != http.StatusForbidden && code != http.StatusNotFound {
			t.Fatalf("another organization: %d %v", code, body)
		}
		if code, body := jsonCall(t, s.url, apiToken, http.MethodPost, "/v1/organizations/"+s.orgID+"/members",
			map[string]any{"userId": robot.userID, "roles": []string{"instance.owner"}}); code == http.StatusOK {
			t.Fatalf("an organization owner made itself an instance owner: %v", body)
		}

		// AuthZEN takes it too, with the same permissions.
		permits := func(org string) bool {
			t.Helper()
			return mustJSON(t, s.url, apiToken, http.MethodPost, "/access/v1/evaluation", map[string]any{
				"subject": map[string]any{"type": "user", "id": robot.userID}, "action": map[string]any{"name": "user.write"},
				"resource": map[string]any{"type": "organization", "id": org}})["decision"] == true
		}
		if !permits(s.orgID) || permits(other) {
			t.Fatal("AuthZEN with an access token")
		}

		// Refused: a token for a project, a DPoP-bound token, an ID token,
		// garbage.
		var p struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Clients"}, &p)
		app, secret := s.createApplication(t, p.Project.ID, map[string]any{"name": "m2m", "grantTypes": []string{grantJWTBearer, "client_credentials"}})
		code, _, body := s.form(t, "/oauth/v2/token", app.ClientID, secret, url.Values{"grant_type": {grantJWTBearer},
			"assertion": {robot.assertion(t, robot.claims(tokenURL, time.Minute))}})
		if code != http.StatusOK {
			t.Fatalf("JWT bearer with a client: %d %v", code, body)
		}
		projectToken := body["access_token"].(string)
		code, _, body = s.form(t, "/oauth/v2/token", app.ClientID, secret, url.Values{"grant_type": {"client_credentials"}})
		if code != http.StatusOK {
			t.Fatalf("client_credentials: %d %v", code, body)
		}
		clientToken := body["access_token"].(string)
		key := dpoptest.NewKey(t, jose.ES256)
		bound := bearer(url.Values{}, key.Proof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL}))
		if cnf, _ := s.accessClaims(t, bound["access_token"].(string))["cnf"].(map[string]any); bound["token_type"] != "DPoP" || cnf["jkt"] != key.JKT(t) {
			t.Fatalf("not a DPoP-bound token: %v %v", bound, cnf)
		}
		for name, c := range map[string]struct{ token, want string }{
			"a token for a project":         {projectToken, "audience"},
			"a client's own token":          {clientToken, "audience"},
			"a DPoP-bound token":            {bound["access_token"].(string), "sender-constrained"},
			"a forged JWT":                  {apiToken[:strings.LastIndex(apiToken, ".")] + ".AAAA", "valid bearer token"},
			"alg none":                      {"eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + strings.Split(apiToken, ".")[1] + ".", "valid bearer token"},
			"an unknown opaque token":       {"cat_" + strings.Repeat("A", 43), "valid bearer token"},
			"a personal access token, bent": {"cst_" + strings.Repeat("A", 43), "valid bearer token"},
		} {
			code, body := jsonCall(t, s.url, c.token, http.MethodGet, "/v1/me", nil)
			if msg, _ := body["message"].(string); code != http.StatusUnauthorized || !strings.Contains(msg, c.want) {
				t.Errorf("%s: %d %v", name, code, body)
			}
		}

		// Deactivated, the machine's token stops at once.
		mustJSON(t, s.url, s.token, http.MethodPost, "/v1/users/"+robot.userID+":deactivate", map[string]any{})
		if code, body := jsonCall(t, s.url, apiToken, http.MethodGet, "/v1/me", nil); code != http.StatusUnauthorized {
			t.Fatalf("a deactivated machine's token: %d %v", code, body)
		}
	})
}
