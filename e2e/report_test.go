package e2e

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// The reports of a running server: a user signs in to an application
// through the hosted login, mistyping the password once, and the
// application redeems the code; the report's subscription, running in
// the server, counts one active user and, for the application, one
// successful and one failed sign-in. The API answers over REST, and
// refuses a caller without report.read.
func TestReports(t *testing.T) {
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
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Portal"}, &project)
		web, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "web",
			"grantTypes": []string{"authorization_code"}, "redirectUris": []string{callbackURI}})
		provider, err := oidc.NewProvider(ctx, s.url)
		if err != nil {
			t.Fatal(err)
		}
		conf := oauth2.Config{ClientID: web.ClientID, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: callbackURI, Scopes: []string{oidc.ScopeOpenID}}
		verifier := oauth2.GenerateVerifier()
		browser := browserClient(t)

		page, err := getPage(browser, conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
		if err != nil {
			t.Fatal(err)
		}
		if page, _, err = postForm(browser, s.url+"/ui/login/", page, url.Values{"loginName": {"alice"}}); err != nil {
			t.Fatal(err)
		}
		// A wrong password answers 401 with the password page again.
		m := csrfField.FindSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token in:\n%s", page)
		}
		resp, err := browser.PostForm(s.url+"/ui/login/password", url.Values{"password": {"wrong"}, "csrf": {string(m[1])}})
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %s", resp.Status)
		}
		if page, _, err = postForm(browser, s.url+"/ui/login/password", page, url.Values{"password": {password}}); err != nil {
			t.Fatal(err)
		}
		back := metaRefresh.FindSubmatch(page)
		if back == nil {
			t.Fatalf("no way back to the application in:\n%s", page)
		}
		callback, err := url.Parse(html.UnescapeString(string(back[1])))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conf.Exchange(ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatal(err)
		}

		// The report lags the log by its subscription's reading: wait for
		// the sign-in to move to the application.
		today := time.Now().UTC().Format(time.DateOnly)
		var signIns struct {
			SignIns []struct {
				Day       string `json:"day"`
				ClientID  string `json:"clientId"`
				Succeeded string `json:"succeeded"`
				Failed    string `json:"failed"`
			} `json:"signIns"`
		}
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			s.api(t, http.MethodGet, "/v1/reports/sign_ins?organizationId="+s.orgID+"&clientId="+url.QueryEscape(web.ClientID), nil, &signIns)
			if len(signIns.SignIns) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no sign-in of %s reported: %+v", web.ClientID, signIns)
			}
		}
		if got := signIns.SignIns[0]; got.Day != today || got.ClientID != web.ClientID || got.Succeeded != "1" || got.Failed != "1" {
			t.Fatalf("sign-ins %+v", signIns)
		}
		var active struct {
			Counts []struct {
				Period string `json:"period"`
				Count  string `json:"count"`
			} `json:"counts"`
		}
		s.api(t, http.MethodGet, "/v1/reports/active_users?from="+today+"&to="+today, nil, &active)
		if len(active.Counts) != 1 || active.Counts[0].Period != today || active.Counts[0].Count != "1" {
			t.Fatalf("active users %+v", active)
		}

		// alice holds no administrator role: no report.read anywhere.
		aliceToken, stderr, err := castellan(t, b.env, "tokens", "create", "alice", "1h")
		if err != nil {
			t.Fatalf("tokens create: %v\n%s", err, stderr)
		}
		for _, path := range []string{"/v1/reports/new_users?organizationId=" + s.orgID, "/v1/reports/mfa_adoption"} {
			if code, body := jsonCall(t, s.url, strings.TrimSpace(aliceToken), http.MethodGet, path, nil); code != http.StatusForbidden {
				t.Fatalf("%s as a user without report.read: %d %v", path, code, body)
			}
		}
	})
}
