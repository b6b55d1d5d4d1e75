package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// roleTokens is the response of a refresh grant.
type roleTokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// claimsOf decodes a JWT's claims without verifying it.
func claimsOf(raw string) (map[string]any, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT: %.40s", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(payload, &out)
}

// countRoles counts the roles of the nested role claims of a token
// (urn:castellan:project:roles and urn:castellan:project:{id}:roles) and
// the claims holding them.
func countRoles(claims map[string]any) (roles, claimsWithRoles int) {
	for name, v := range claims {
		if !strings.HasPrefix(name, "urn:castellan:project:") {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			roles += len(m)
			claimsWithRoles++
		}
	}
	return roles, claimsWithRoles
}

// BenchmarkTokensWithRoles measures refresh grants of a user holding 100
// roles across 10 organizations' projects against refresh grants of a
// user holding none, from the same client with the same scopes, in the
// same loop. Set up through the API: the administrator's organization
// (the users' own) and nine supplier organizations each own a project
// with 10 roles; each supplier grants its project with its 10 roles to
// the users' organization, and the holder has one authorization per
// project (its own organization's, and one under each grant) with all 10
// roles. The client, an application of the own project, asks for
// urn:castellan:project:roles and urn:castellan:project:{id}:roles of the
// nine others, on top of "offline_access" (a JWT access token: ES256) or
// "openid offline_access" (also an RS256 ID token), so that its tokens
// carry 10 role claims of 10 roles each (nested: each role names the
// organization whose authorization gives it). Each worker rotates its
// own refresh token.
func BenchmarkTokensWithRoles(b *testing.B) {
	eachBenchBackend(b, func(b *testing.B, env []string) {
		s := startSignInServer(b, append([]string{"GOMAXPROCS=" + benchProcs()}, env...)...)
		home := s.myOrganization(b)
		const password = "correct horse battery staple 1"
		userIDs := map[string]string{}
		for _, login := range []string{"holder", "plain"} {
			var out struct {
				UserID string `json:"userId"`
			}
			s.mustAPI(b, http.MethodPost, "/v1/users", map[string]any{"organizationId": home, "type": "human", "loginName": login,
				"email": login + "@example.com", "password": password}, &out)
			userIDs[login] = out.UserID
		}
		roleScopes := []string{"urn:castellan:project:roles"}
		var own string
		for o := range 10 {
			org := home
			if o > 0 {
				var out struct {
					OrganizationID string `json:"organizationId"`
				}
				s.mustAPI(b, http.MethodPost, "/v1/organizations", map[string]any{"name": fmt.Sprintf("Supplier %d", o)}, &out)
				org = out.OrganizationID
			}
			var project struct {
				Project struct{ ID string } `json:"project"`
			}
			s.mustAPI(b, http.MethodPost, "/v1/projects", map[string]any{"organizationId": org, "name": fmt.Sprintf("catalogue %d", o)}, &project)
			id := project.Project.ID
			var keys []string
			for r := range 10 {
				keys = append(keys, fmt.Sprintf("role%03d", o*10+r))
				s.mustAPI(b, http.MethodPost, "/v1/projects/"+id+"/roles", map[string]any{"key": keys[r]}, nil)
			}
			authorization := map[string]any{"userId": userIDs["holder"], "projectId": id, "roles": keys}
			if o == 0 {
				own = id
			} else {
				var grant struct {
					Grant struct{ ID string } `json:"grant"`
				}
				s.mustAPI(b, http.MethodPost, "/v1/projects/"+id+"/grants", map[string]any{"grantedOrganizationId": home, "roles": keys}, &grant)
				authorization["grantId"] = grant.Grant.ID
				roleScopes = append(roleScopes, "urn:castellan:project:"+id+":roles")
			}
			s.mustAPI(b, http.MethodPost, "/v1/authorizations", authorization, nil)
		}
		var app struct {
			Application  struct{ ClientID string } `json:"application"`
			ClientSecret string                    `json:"clientSecret"`
		}
		s.mustAPI(b, http.MethodPost, "/v1/projects/"+own+"/applications", map[string]any{"name": "portal",
			"grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{callbackURI}}, &app)
		for _, base := range []string{"offline_access", "openid offline_access"} {
			b.Run(strings.ReplaceAll(base, " ", "+"), func(b *testing.B) {
				scopes := append(strings.Fields(base), roleScopes...)
				refreshWithRoles(b, s, app.Application.ClientID, app.ClientSecret, scopes, password)
			})
		}
	})
}

// refreshWithRoles runs the load of BenchmarkTokensWithRoles for scopes.
func refreshWithRoles(b *testing.B, s *signInServer, clientID, secret string, scopes []string, password string) {
	p := &providerBench{signInServer: s, secret: secret, conf: oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: callbackURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: s.url + "/oauth/v2/authorize", TokenURL: s.url + "/oauth/v2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}}
	// Each worker's own grant of each user: a code flow per token, the
	// first one signing the user in, the others single sign-on.
	refresh := map[string][]string{}
	for _, login := range []string{"holder", "plain"} {
		browser := browserClient(b)
		for range accessWorkers {
			verifier := oauth2.GenerateVerifier()
			back := authorize(b, browser, p.conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), login, password)
			tok, err := p.conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				b.Fatal(err)
			}
			refresh[login] = append(refresh[login], tok.RefreshToken)
		}
	}
	grant := func(login string, w int) (roleTokens, error) {
		var out roleTokens
		err := p.post("/oauth/v2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh[login][w]}}, &out)
		if err == nil {
			refresh[login][w] = out.RefreshToken
		}
		return out, err
	}
	// What each user's tokens carry, checked before and after the load.
	check := func() {
		for login, want := range map[string][2]int{"holder": {100, 10}, "plain": {0, 0}} {
			tok, err := grant(login, 0)
			if err != nil {
				b.Fatal(err)
			}
			for _, raw := range []string{tok.AccessToken, tok.IDToken} {
				if raw == "" && !slices.Contains(scopes, "openid") {
					continue
				}
				claims, err := claimsOf(raw)
				if err != nil {
					b.Fatal(err)
				}
				if roles, n := countRoles(claims); roles != want[0] || n != want[1] {
					b.Fatalf("%s's token carries %d roles in %d claims, want %d in %d", login, roles, n, want[0], want[1])
				}
			}
			b.ReportMetric(float64(len(tok.AccessToken)+len(tok.IDToken)), login+"-token-bytes")
		}
	}
	check()
	op := func(name, login string) *loadOp {
		return &loadOp{name: name, units: "tokens", do: func(w, _ int) (int, error) {
			_, err := grant(login, w)
			return 1, err
		}}
	}
	alternate(b, s, op("roles", "holder"), op("none", "plain"))
	check()
}
