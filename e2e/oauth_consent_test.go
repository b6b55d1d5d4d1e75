package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// Consent to a third-party application: asked once per scope set in the
// hosted login (and again with prompt=consent), remembered, listed on the
// account page and revocable there — which ends the application's grants.
func TestConsent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		ctx := context.Background()
		const password = "correct horse battery staple 3"
		s.createLoginUser(t, b, "carol", password)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "Partners"}, &project)
		app, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "Partner App", "thirdParty": true,
			"grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{callbackURI}})
		conf := oauth2.Config{ClientID: app.ClientID, ClientSecret: secret, RedirectURL: callbackURI, Scopes: []string{"openid", "email", "offline_access"},
			Endpoint: oauth2.Endpoint{AuthURL: s.url + "/oauth/v2/authorize", TokenURL: s.url + "/oauth/v2/token"}}
		browser := browserClient(t)

		// Sign in; the consent page follows.
		page, err := getPage(browser, conf.AuthCodeURL("c1"))
		if err != nil {
			t.Fatal(err)
		}
		page, _, err = postForm(browser, s.url+"/ui/login/", page, url.Values{"loginName": {"carol"}})
		if err != nil {
			t.Fatal(err)
		}
		page, _, err = postForm(browser, s.url+"/ui/login/password", page, url.Values{"password": {password}})
		if err != nil || !strings.Contains(string(page), "Partner App asks to access your account carol") || !strings.Contains(string(page), "Your email address") {
			t.Fatalf("no consent page: %v\n%s", err, page)
		}
		page, _, err = postForm(browser, s.url+"/ui/login/consent", page, url.Values{"decision": {"allow"}})
		m := metaRefresh.FindSubmatch(page)
		if err != nil || m == nil {
			t.Fatalf("after allowing: %v\n%s", err, page)
		}
		back, _ := url.Parse(strings.ReplaceAll(string(m[1]), "&amp;", "&"))
		tok, err := conf.Exchange(ctx, back.Query().Get("code"))
		if err != nil {
			t.Fatal(err)
		}

		// Remembered: the next authorization returns at once.
		if back := authorize(t, browser, conf.AuthCodeURL("c2"), "", ""); back.Query().Get("code") == "" {
			t.Fatalf("the consent was not remembered: %s", back)
		}
		// prompt=consent asks again; deny is access_denied.
		page, err = getPage(browser, conf.AuthCodeURL("c3", oauth2.SetAuthURLParam("prompt", "consent")))
		if err != nil || !strings.Contains(string(page), `value="allow"`) {
			t.Fatalf("prompt=consent: %v\n%s", err, page)
		}
		resp, err := browser.PostForm(s.url+"/ui/login/consent", url.Values{"decision": {"deny"}, "csrf": {string(csrfField.FindSubmatch(page)[1])}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" {
			t.Fatalf("deny: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}

		// The account page lists the application; revoking ends its grants.
		page, err = getPage(browser, s.url+"/ui/account/")
		if err != nil || !strings.Contains(string(page), "Partner App") {
			t.Fatalf("account page: %v\n%s", err, page)
		}
		if _, _, err := postForm(browser, s.url+"/ui/account/applications/revoke", page, url.Values{"client": {app.ClientID}}); err != nil {
			t.Fatal(err)
		}
		if code, _, body := s.form(t, "/oauth/v2/token", app.ClientID, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); code != http.StatusBadRequest {
			t.Fatalf("a refresh token after the consent was revoked: %d %v", code, body)
		}
		resp, err = browser.Get(conf.AuthCodeURL("c4"))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(raw), `value="allow"`) {
			t.Fatalf("after revoking, the consent is asked again; got %s", raw)
		}
	})
}
