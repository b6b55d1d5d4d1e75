package e2e

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// callbackURI is where the test applications' authorizations return:
// nothing listens there; the test reads the URL the login sends the
// browser to.
const callbackURI = "http://127.0.0.1:9/callback"

var metaRefresh = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// browserClient is a browser's cookie jar that stops at a callback (the
// test applications' redirect URIs are on 127.0.0.1; the server is
// localhost) instead of following a redirect there.
func browserClient(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Hostname() == "127.0.0.1" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// authorize runs a browser through an authorization: it opens authURL,
// signs in with loginName and password when the login asks, and returns
// the callback URL the login sends the browser back to.
func authorize(t testing.TB, browser *http.Client, authURL, loginName, password string) *url.URL {
	t.Helper()
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusFound {
		u, _ := url.Parse(resp.Header.Get("Location"))
		return u
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", authURL, resp.Status, page)
	}
	base := resp.Request.URL.Scheme + "://" + resp.Request.URL.Host
	if resp.Request.URL.Path == "/ui/login/" && strings.Contains(string(page), `name="loginName"`) {
		page, _, err = postForm(browser, base+"/ui/login/", page, url.Values{"loginName": {loginName}})
		if err != nil {
			t.Fatal(err)
		}
		page, _, err = postForm(browser, base+"/ui/login/password", page, url.Values{"password": {password}})
		if err != nil {
			t.Fatal(err)
		}
	}
	m := metaRefresh.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no way back to the application in:\n%s", page)
	}
	u, err := url.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// createLoginUser creates a user with a password in the administrator's
// organization through the CLI.
func (s *oauthServer) createLoginUser(t *testing.T, b backend, name, password string) {
	t.Helper()
	env := append(append([]string{}, b.env...), "CASTELLAN_URL="+s.url, "CASTELLAN_TOKEN="+s.token)
	out, stderr, err := castellanStdin(t, env, password+"\n", "users", "create", "--org", s.orgID, "--login-name", name,
		"--email", name+"@example.com", "--password-stdin", "--traits", `{"profile": {"given_name": "Alice", "family_name": "Liddell"}}`)
	if err != nil {
		t.Fatalf("users create: %v\n%s%s", err, out, stderr)
	}
}

// The authorization code flow, driven by golang.org/x/oauth2 (PKCE) and
// verified by go-oidc, through the hosted login's forms; then refresh
// rotation and reuse, code reuse, userinfo, and the refusals of the
// authorization endpoint.
func TestAuthorizationCode(t *testing.T) {
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
		logoutTokens := make(chan string, 10)
		backchannel := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			logoutTokens <- r.PostForm.Get("logout_token")
		}))
		defer backchannel.Close()
		web, secret := s.createApplication(t, project.Project.ID, map[string]any{"name": "web",
			"grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{callbackURI},
			"postLogoutRedirectUris": []string{"http://127.0.0.1:9/signed-out"}, "backchannelLogoutUri": backchannel.URL + "/backchannel"})
		native, _ := s.createApplication(t, project.Project.ID, map[string]any{"name": "native", "public": true,
			"grantTypes": []string{"authorization_code"}, "redirectUris": []string{"http://127.0.0.1/callback"}})

		provider, err := oidc.NewProvider(ctx, s.url)
		if err != nil {
			t.Fatal(err)
		}
		if provider.Endpoint().AuthURL != s.url+"/oauth/v2/authorize" || provider.UserInfoEndpoint() != s.url+"/oidc/v1/userinfo" {
			t.Fatalf("discovery: %+v %s", provider.Endpoint(), provider.UserInfoEndpoint())
		}
		conf := oauth2.Config{ClientID: web.ClientID, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: callbackURI,
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
		verifier := oauth2.GenerateVerifier()
		browser := browserClient(t)
		back := authorize(t, browser, conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1")), "alice", password)
		q := back.Query()
		if back.Host != "127.0.0.1:9" || q.Get("state") != "st-1" || q.Get("iss") != s.url || !strings.HasPrefix(q.Get("code"), "cac_") {
			t.Fatalf("callback %s", back)
		}

		// A wrong verifier is refused and does not spend the code.
		if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("wrong verifier: %v", err)
		}
		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idToken, err := provider.Verifier(&oidc.Config{ClientID: web.ClientID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("go-oidc refused the ID token: %v", err)
		}
		if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		var idClaims struct {
			Nonce             string   `json:"nonce"`
			Email             string   `json:"email"`
			EmailVerified     *bool    `json:"email_verified"`
			PreferredUsername string   `json:"preferred_username"`
			AMR               []string `json:"amr"`
			AuthTime          int64    `json:"auth_time"`
			SID               string   `json:"sid"`
		}
		if err := idToken.Claims(&idClaims); err != nil {
			t.Fatal(err)
		}
		if idClaims.Nonce != "n-1" || idClaims.Email != "alice@example.com" || idClaims.EmailVerified == nil || idClaims.PreferredUsername != "alice" ||
			len(idClaims.AMR) == 0 || idClaims.AMR[0] != "pwd" || idClaims.AuthTime == 0 || idClaims.SID == "" {
			t.Fatalf("ID token claims %+v", idClaims)
		}
		var allID map[string]any
		if err := idToken.Claims(&allID); err != nil {
			t.Fatal(err)
		}
		goldenJSON(t, "id_token_claims", allID, "iss", "sub", "aud", "azp", "iat", "exp", "auth_time", "sid", "at_hash", "updated_at")
		if tok.RefreshToken == "" || !strings.HasPrefix(tok.RefreshToken, "crt_") {
			t.Fatalf("no refresh token: %+v", tok)
		}

		// userinfo, through go-oidc.
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		if info.Subject != idToken.Subject || info.Email != "alice@example.com" {
			t.Fatalf("userinfo %+v", info)
		}
		var allInfo map[string]any
		if err := info.Claims(&allInfo); err != nil {
			t.Fatal(err)
		}
		goldenJSON(t, "userinfo", allInfo, "sub", "updated_at")
		if code, _, body := s.form(t, "/oauth/v2/introspect", web.ClientID, secret, url.Values{"token": {tok.AccessToken}}); code != http.StatusOK {
			t.Fatalf("introspect: %d %v", code, body)
		} else {
			goldenJSON(t, "introspection", body, "sub", "client_id", "aud", "iss", "iat", "exp", "jti")
		}
		if code, _, _ := s.form(t, "/oidc/v1/userinfo", "", "", url.Values{"access_token": {"not-a-token"}}); code != http.StatusUnauthorized {
			t.Fatalf("userinfo with a bad token: %d", code)
		}

		// Browser applications: userinfo's preflight and answers allow any
		// origin (a bearer token, no cookies); the token endpoint answers
		// the origin of a registered redirect URI only.
		preq, _ := http.NewRequest(http.MethodOptions, s.url+"/oidc/v1/userinfo", nil)
		preq.Header.Set("Origin", "https://spa.example")
		preq.Header.Set("Access-Control-Request-Method", "GET")
		preq.Header.Set("Access-Control-Request-Headers", "authorization")
		if resp, err := http.DefaultClient.Do(preq); err != nil || resp.StatusCode != http.StatusNoContent ||
			resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("userinfo preflight: %v %v", resp, err)
		}
		corsToken := func(origin string) string {
			req, _ := http.NewRequest(http.MethodPost, s.url+"/oauth/v2/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"crt_x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", origin)
			req.SetBasicAuth(web.ClientID, secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Header.Get("Access-Control-Allow-Origin")
		}
		if got := corsToken("http://127.0.0.1:9"); got != "http://127.0.0.1:9" {
			t.Fatalf("the token endpoint to the client's origin: %q", got)
		}
		if got := corsToken("https://evil.example"); got != "" {
			t.Fatalf("the token endpoint to another origin: %q", got)
		}

		// Refresh rotates; the old token again revokes the grant.
		refresh := func(rt string) (int, map[string]any) {
			code, _, body := s.form(t, "/oauth/v2/token", web.ClientID, secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			return code, body
		}
		code, body := refresh(tok.RefreshToken)
		next, _ := body["refresh_token"].(string)
		if code != http.StatusOK || next == "" || next == tok.RefreshToken || body["id_token"] == nil {
			t.Fatalf("refresh: %d %v", code, body)
		}
		if code, body := refresh(tok.RefreshToken); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("reuse: %d %v", code, body)
		}
		if code, body := refresh(next); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("the rotated token after a reuse: %d %v (the grant must be revoked)", code, body)
		}

		// Single sign-on: a second authorization in the same browser
		// returns at once. Redeeming its code twice revokes the first
		// redemption's tokens.
		verifier2 := oauth2.GenerateVerifier()
		back = authorize(t, browser, conf.AuthCodeURL("st-2", oauth2.S256ChallengeOption(verifier2)), "", "")
		tok2, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier2)); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("code reuse: %v", err)
		}
		if code, _, body := s.form(t, "/oauth/v2/introspect", web.ClientID, secret, url.Values{"token": {tok2.AccessToken}}); code != 200 || body["active"] != false {
			t.Fatalf("the access token of a reused code: %d %v", code, body)
		}
		if code, body := refresh(tok2.RefreshToken); code != http.StatusBadRequest {
			t.Fatalf("the refresh token of a reused code: %d %v", code, body)
		}

		// A public client: PKCE and no secret.
		pub := oauth2.Config{ClientID: native.ClientID, Endpoint: provider.Endpoint(), RedirectURL: "http://127.0.0.1:53682/callback", Scopes: []string{"openid"}}
		pub.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		verifier3 := oauth2.GenerateVerifier()
		back = authorize(t, browser, pub.AuthCodeURL("st-3", oauth2.S256ChallengeOption(verifier3)), "", "")
		if back.Host != "127.0.0.1:53682" {
			t.Fatalf("a native client's loopback redirect with its own port: %s", back)
		}
		if _, err := pub.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier3)); err != nil {
			t.Fatalf("public client: %v", err)
		}

		// A custom login finishes a request through the Session API.
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		customLogin := func(state string) string {
			verifier := oauth2.GenerateVerifier()
			resp, err := noFollow.Get(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "alice")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			id := loc.Query().Get("authRequest")
			if resp.StatusCode != http.StatusFound || loc.Path != "/ui/login/" || id == "" {
				t.Fatalf("authorization: %s → %s", resp.Status, loc)
			}
			var got struct {
				AuthRequest struct {
					ClientID  string   `json:"clientId"`
					Scopes    []string `json:"scopes"`
					LoginHint string   `json:"loginHint"`
				} `json:"authRequest"`
			}
			s.api(t, http.MethodGet, "/v1/auth_requests/"+id, nil, &got)
			if got.AuthRequest.ClientID != web.ClientID || got.AuthRequest.LoginHint != "alice" || len(got.AuthRequest.Scopes) != 4 {
				t.Fatalf("auth request %+v", got)
			}
			return id + " " + verifier
		}
		idAndVerifier := strings.Fields(customLogin("st-4"))
		var created struct {
			Session struct {
				ID string `json:"id"`
			} `json:"session"`
			SessionToken string `json:"sessionToken"`
		}
		s.api(t, http.MethodPost, "/v1/sessions", map[string]any{"checks": map[string]any{
			"user": map[string]any{"loginName": "alice"}, "password": map[string]any{"password": password}}}, &created)
		var finished struct {
			CallbackURL string `json:"callbackUrl"`
		}
		s.api(t, http.MethodPost, "/v1/auth_requests/"+idAndVerifier[0]+"/finish",
			map[string]any{"sessionId": created.Session.ID, "sessionToken": created.SessionToken}, &finished)
		back, _ = url.Parse(finished.CallbackURL)
		if back.Query().Get("state") != "st-4" {
			t.Fatalf("callback %s", back)
		}
		tok4, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(idAndVerifier[1]))
		if err != nil {
			t.Fatalf("the code of a custom login: %v", err)
		}

		// A refresh token introspects active for its client, and its
		// revocation ends the grant.
		if code, _, body := s.form(t, "/oauth/v2/introspect", web.ClientID, secret, url.Values{"token": {tok4.RefreshToken}}); code != 200 ||
			body["active"] != true || body["token_type"] != "refresh_token" || body["sub"] != idToken.Subject {
			t.Fatalf("introspect a refresh token: %d %v", code, body)
		}
		if code, _, body := s.form(t, "/oauth/v2/revoke", web.ClientID, secret, url.Values{"token": {tok4.RefreshToken}}); code != 200 {
			t.Fatalf("revoke a refresh token: %d %v", code, body)
		}
		if code, body := refresh(tok4.RefreshToken); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("a revoked refresh token: %d %v", code, body)
		}
		denied := strings.Fields(customLogin("st-5"))[0]
		s.api(t, http.MethodPost, "/v1/auth_requests/"+denied+"/deny", map[string]any{"error": "access_denied"}, &finished)
		if back, _ = url.Parse(finished.CallbackURL); back.Query().Get("error") != "access_denied" || back.Query().Get("state") != "st-5" {
			t.Fatalf("deny: %s", back)
		}

		// A pushed authorization request (RFC 9126): checked when pushed,
		// then used once by the browser with only client_id and
		// request_uri; a client that requires pushing refuses the rest.
		verifierPAR := oauth2.GenerateVerifier()
		code, _, pushed := s.form(t, "/oauth/v2/par", web.ClientID, secret, url.Values{"response_type": {"code"}, "redirect_uri": {callbackURI},
			"scope": {"openid"}, "state": {"st-par"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifierPAR)}, "code_challenge_method": {"S256"}})
		requestURI, _ := pushed["request_uri"].(string)
		if code != http.StatusCreated || !strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:") || pushed["expires_in"] != float64(90) {
			t.Fatalf("PAR: %d %v", code, pushed)
		}
		if code, _, body := s.form(t, "/oauth/v2/par", web.ClientID, secret, url.Values{"response_type": {"code"}, "redirect_uri": {"https://evil.example/"}}); code != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("PAR with an unregistered redirect URI: %d %v", code, body)
		}
		parURL := s.url + "/oauth/v2/authorize?" + url.Values{"client_id": {web.ClientID}, "request_uri": {requestURI}}.Encode()
		back = authorize(t, browser, parURL, "", "")
		if back.Query().Get("state") != "st-par" {
			t.Fatalf("PAR callback %s", back)
		}
		if _, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifierPAR)); err != nil {
			t.Fatalf("the code of a pushed request: %v", err)
		}
		if resp, err := browser.Get(parURL); err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a request_uri used twice: %v %v", resp.StatusCode, err)
		} else {
			resp.Body.Close()
		}
		s.api(t, http.MethodPut, "/v1/applications/"+web.ID+"/redirects", map[string]any{"redirectUris": []string{callbackURI},
			"postLogoutRedirectUris": []string{"http://127.0.0.1:9/signed-out"}, "requirePushedRequests": true, "backchannelLogoutUri": backchannel.URL + "/backchannel"}, nil)
		time.Sleep(1100 * time.Millisecond) // the provider's client cache (1 s, docs/oauth.md)
		if back := authorize(t, browser, conf.AuthCodeURL("st-np"), "", ""); back.Query().Get("error") != "invalid_request" {
			t.Fatalf("an authorization not pushed, of a client that requires pushing: %s", back)
		}
		s.api(t, http.MethodPut, "/v1/applications/"+web.ID+"/redirects", map[string]any{"redirectUris": []string{callbackURI},
			"postLogoutRedirectUris": []string{"http://127.0.0.1:9/signed-out"}, "backchannelLogoutUri": backchannel.URL + "/backchannel"}, nil)
		time.Sleep(1100 * time.Millisecond)

		// RP-initiated logout with the ID token as hint: the browser holds
		// its session, so it signs out without asking, ends the grants of
		// the session, and returns to the registered URI with the state.
		verifier5 := oauth2.GenerateVerifier()
		back = authorize(t, browser, conf.AuthCodeURL("st-6", oauth2.S256ChallengeOption(verifier5)), "", "")
		tok5, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier5))
		if err != nil {
			t.Fatal(err)
		}
		endSession := func(c *http.Client, params url.Values) (int, string, string) {
			resp, err := c.Get(s.url + "/oidc/v1/end_session?" + params.Encode())
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, resp.Header.Get("Location"), string(raw)
		}
		if code, _, page := endSession(browser, url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {"https://evil.example/"}}); code != http.StatusBadRequest {
			t.Fatalf("an unregistered post-logout URI: %d %s", code, page)
		}
		if code, _, page := endSession(browser, url.Values{"id_token_hint": {tok5.AccessToken}}); code != http.StatusBadRequest {
			t.Fatalf("an access token as id_token_hint: %d %s", code, page)
		}
		code, _, page := endSession(browser, url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {"http://127.0.0.1:9/signed-out"}, "state": {"lo"}})
		m := metaRefresh.FindStringSubmatch(page)
		if code != http.StatusOK || m == nil || html.UnescapeString(m[1]) != "http://127.0.0.1:9/signed-out?state=lo" {
			t.Fatalf("end session: %d %s", code, page)
		}
		if code, body := refresh(tok5.RefreshToken); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("a refresh token of a signed-out session: %d %v", code, body)
		}
		// Back-channel logout: the client receives a logout token for the
		// session, which go-oidc verifies as a token of the provider.
		select {
		case raw := <-logoutTokens:
			lt, err := provider.Verifier(&oidc.Config{ClientID: web.ClientID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("logout token: %v", err)
			}
			var c struct {
				SID    string                    `json:"sid"`
				Events map[string]map[string]any `json:"events"`
			}
			if err := lt.Claims(&c); err != nil || c.SID != idClaims.SID || lt.Subject != idToken.Subject ||
				c.Events["http://schemas.openid.net/event/backchannel-logout"] == nil {
				t.Fatalf("logout token claims %+v %v", c, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no back-channel logout token")
		}
		resp, err := browser.Get(conf.AuthCodeURL("st-7", oauth2.S256ChallengeOption(verifier5)))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(raw), `name="loginName"`) {
			t.Fatalf("after the logout the login asks for a name again; got %s", raw)
		}

		// Refusals at the authorization endpoint.
		authGet := func(c *http.Client, params url.Values) (int, string, string) {
			resp, err := c.Get(s.url + "/oauth/v2/authorize?" + params.Encode())
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, resp.Header.Get("Location"), string(raw)
		}
		good := func() url.Values {
			return url.Values{"client_id": {native.ClientID}, "redirect_uri": {"http://127.0.0.1/callback"}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier3)}, "code_challenge_method": {"S256"}}
		}
		for _, c := range []struct {
			name      string
			change    func(url.Values)
			wantError string // at the redirect URI; "" for a page
		}{
			{"unregistered redirect URI", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }, ""},
			{"unknown client", func(v url.Values) { v.Set("client_id", "nope") }, ""},
			{"parameter twice", func(v url.Values) { v.Add("client_id", native.ClientID) }, ""},
			{"no PKCE from a public client", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
			{"plain PKCE", func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
			{"token response type", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
			{"unknown scope", func(v url.Values) { v.Set("scope", "openid admin") }, "invalid_scope"},
			{"offline_access without the refresh grant", func(v url.Values) { v.Set("scope", "openid offline_access") }, "invalid_scope"},
			{"request object", func(v url.Values) { v.Set("request", "e30.e30.") }, "request_not_supported"},
			{"prompt none without a session", func(v url.Values) { v.Set("prompt", "none") }, "login_required"},
		} {
			params := good()
			c.change(params)
			client := noFollow
			if c.wantError == "login_required" {
				client = browserClient(t)
			}
			status, location, page := authGet(client, params)
			if c.wantError == "" {
				if status != http.StatusBadRequest || location != "" || !strings.Contains(page, "invalid_request") {
					t.Errorf("%s: %d %q %s (want a page, no redirect)", c.name, status, location, page)
				}
				continue
			}
			if c.wantError == "login_required" && status == http.StatusOK {
				// The login answered; the redirect comes from it.
				t.Errorf("%s: the login rendered a page", c.name)
				continue
			}
			loc, _ := url.Parse(location)
			if status != http.StatusFound || !strings.HasPrefix(location, "http://127.0.0.1/callback?") || loc.Query().Get("error") != c.wantError ||
				loc.Query().Get("state") != "s" {
				t.Errorf("%s: %d %q, want error %s at the redirect URI", c.name, status, location, c.wantError)
			}
		}
	})
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}
