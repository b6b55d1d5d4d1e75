package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// The device authorization grant (RFC 8628) with golang.org/x/oauth2's
// device client, public as a CLI is: the user enters the code in the
// hosted login, signs in and allows; the polling client gets its tokens.
// A denial ends the polling with access_denied.
func TestDeviceFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := startOAuthServer(t, b)
		ctx := context.Background()
		const password = "correct horse battery staple 2"
		s.createLoginUser(t, b, "dora", password)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		s.api(t, http.MethodPost, "/v1/projects", map[string]any{"organizationId": s.orgID, "name": "CLI"}, &project)
		cli, _ := s.createApplication(t, project.Project.ID, map[string]any{"name": "cli", "public": true,
			"grantTypes": []string{"urn:ietf:params:oauth:grant-type:device_code"}, "idTokenAlg": "ES256"})
		provider, err := oidc.NewProvider(ctx, s.url)
		if err != nil {
			t.Fatal(err)
		}
		conf := oauth2.Config{ClientID: cli.ClientID, Endpoint: provider.Endpoint(), Scopes: []string{"openid", "email"}}
		conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if conf.Endpoint.DeviceAuthURL != s.url+"/oauth/v2/device_authorization" {
			t.Fatalf("discovery: device endpoint %q", conf.Endpoint.DeviceAuthURL)
		}

		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(da.UserCode) != 9 || da.UserCode[4] != '-' || da.VerificationURI != s.url+"/ui/login/device" || da.Interval != 5 {
			t.Fatalf("device authorization %+v", da)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		polled := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			tok, err := conf.DeviceAccessToken(ctx, da)
			polled <- result{tok, err}
		}()

		// The user, on another device: the link with the code, then the
		// sign-in, then the confirmation.
		browser := browserClient(t)
		page, err := getPage(browser, da.VerificationURIComplete)
		if err != nil || !strings.Contains(string(page), `value="`+da.UserCode+`"`) {
			t.Fatalf("the user-code page: %v\n%s", err, page)
		}
		// A wrong code is refused.
		if _, _, err := postForm(browser, s.url+"/ui/login/device", page, url.Values{"user_code": {"BBBB-BBBB"}}); err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("a wrong user code: %v", err)
		}
		page, path, err := postForm(browser, s.url+"/ui/login/device", page, url.Values{"user_code": {strings.ToLower(da.UserCode)}})
		if err != nil || path != "/ui/login/" {
			t.Fatalf("the user code: %s %v", path, err)
		}
		page, _, err = postForm(browser, s.url+"/ui/login/", page, url.Values{"loginName": {"dora"}})
		if err != nil {
			t.Fatal(err)
		}
		page, path, err = postForm(browser, s.url+"/ui/login/password", page, url.Values{"password": {password}})
		if err != nil || path != "/ui/login/device/confirm" || !strings.Contains(string(page), "cli asks to sign in as dora") {
			t.Fatalf("after the sign-in: %s %v\n%s", path, err, page)
		}
		page, _, err = postForm(browser, s.url+"/ui/login/device/confirm", page, url.Values{"decision": {"allow"}})
		if err != nil || !strings.Contains(string(page), "The device is connected") {
			t.Fatalf("allow: %v\n%s", err, page)
		}
		got := <-polled
		if got.err != nil {
			t.Fatalf("the device's polling: %v", got.err)
		}
		// The client chose ES256 for its ID tokens.
		rawID := got.tok.Extra("id_token").(string)
		if parsed, err := jwt.ParseSigned(rawID, []jose.SignatureAlgorithm{jose.ES256}); err != nil || parsed.Headers[0].Algorithm != "ES256" {
			t.Fatalf("the ID token of a client that chose ES256: %v", err)
		}
		idToken, err := provider.Verifier(&oidc.Config{ClientID: cli.ClientID, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		var c struct{ Email string }
		if err := idToken.Claims(&c); err != nil || c.Email != "dora@example.com" {
			t.Fatalf("ID token claims %+v %v", c, err)
		}
		// The code is used: polling again is invalid_grant.
		if _, err := conf.DeviceAccessToken(ctx, da); !isOAuthError(err, "invalid_grant") {
			t.Fatalf("a redeemed device code: %v", err)
		}

		// A denial, in the same browser (signed in: straight to the
		// confirmation).
		da2, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			tok, err := conf.DeviceAccessToken(ctx, da2)
			polled <- result{tok, err}
		}()
		page, _ = getPage(browser, da2.VerificationURIComplete)
		page, path, err = postForm(browser, s.url+"/ui/login/device", page, url.Values{"user_code": {da2.UserCode}})
		if err != nil || path != "/ui/login/device/confirm" {
			t.Fatalf("a signed-in user's code: %s %v", path, err)
		}
		if _, _, err = postForm(browser, s.url+"/ui/login/device/confirm", page, url.Values{"decision": {"deny"}}); err != nil {
			t.Fatal(err)
		}
		if got := <-polled; !isOAuthError(got.err, "access_denied") {
			t.Fatalf("a denied device: %v", got.err)
		}
	})
}
