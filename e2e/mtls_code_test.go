package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// postTLS posts a form with c (which presents its certificate, or none)
// and returns the status and decoded JSON body.
func postTLS(t testing.TB, c *http.Client, target string, values url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := c.Post(target, "application/x-www-form-urlencoded", strings.NewReader(values.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// getTLS gets target with c and a bearer token; it returns the status,
// the decoded JSON body and the WWW-Authenticate challenge.
func getTLS(t testing.TB, c *http.Client, target, token string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header.Get("WWW-Authenticate")
}

// Certificate-bound tokens through the authorization code flow, with
// Castellan terminating TLS: a FAPI 2.0 application authenticating with
// self_signed_tls_client_auth whose tokens are bound to its certificate
// (mTLS as the sender constraint, no DPoP) — PAR, the hosted login, the
// code, userinfo only with the certificate — and a public client whose
// refresh tokens are bound to its certificate: a refresh with another
// certificate or none is refused and does not spend the token.
func TestCertificateBoundCodeFlow(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newMTLSEnv(t)
		serverCA := certtest.NewCA(t, "Server Root")
		srvCert := serverCA.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, IPs: []string{"127.0.0.1"}, Server: true})
		roots := x509.NewCertPool()
		roots.AddCert(serverCA.Cert.Cert)
		certFile, keyFile := writeFile(t, e.dir, "server.pem", srvCert.PEM()), writeFile(t, e.dir, "server.key", srvCert.KeyPEM(t))
		p := startTLS(t, tlsClient(roots, nil), b.env, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
		setupMTLS(t, p, b, e)
		issuer := p.url
		tokenURL, parURL, userinfoURL := issuer+"/oauth/v2/token", issuer+"/oauth/v2/par", issuer+"/oidc/v1/userinfo"

		var me struct {
			User struct {
				OrganizationID string `json:"organizationId"`
			} `json:"user"`
		}
		apiCall(t, p, e.token, http.MethodGet, "/v1/me", nil, &me)
		const password = "correct horse battery staple 1"
		apiCall(t, p, e.token, http.MethodPost, "/v1/users", map[string]any{"organizationId": me.User.OrganizationID, "type": "human",
			"loginName": "alice", "email": "alice@example.com", "password": password,
			"traits": map[string]any{"profile": map[string]any{"given_name": "Alice", "family_name": "Liddell"}}}, nil)
		var project struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
		}
		apiCall(t, p, e.token, http.MethodPost, "/v1/projects", map[string]any{"organizationId": me.User.OrganizationID, "name": "Portal"}, &project)
		create := func(spec map[string]any) application {
			var created struct {
				Application application `json:"application"`
			}
			apiCall(t, p, e.token, http.MethodPost, "/v1/projects/"+project.Project.ID+"/applications", spec, &created)
			return created.Application
		}
		const redirect = "http://127.0.0.1/callback"
		bank := create(map[string]any{"name": "bank-portal", "grantTypes": []string{"authorization_code", "refresh_token"}, "redirectUris": []string{redirect},
			"authMethod": "self_signed_tls_client_auth", "certificates": e.self.PEM(), "certificateBoundTokens": true, "idTokenAlg": "EdDSA"})
		apiCall(t, p, e.token, http.MethodPut, "/v1/applications/"+bank.ID+"/fapi", map[string]any{"enabled": true}, nil)
		native := create(map[string]any{"name": "native", "public": true, "grantTypes": []string{"authorization_code", "refresh_token"},
			"redirectUris": []string{redirect}, "certificateBoundTokens": true})

		browser := browserClient(t)
		browser.Transport = tlsClient(roots, nil).Transport
		withCert, noCert := tlsClient(roots, &e.self), tlsClient(roots, nil)
		stranger := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "bank-b"}})
		otherCert := tlsClient(roots, &stranger)

		t.Run("ok/FAPI with mTLS: PAR, code, bound token, userinfo with the certificate", func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			pushed := url.Values{"client_id": {bank.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile"},
				"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
			if code, body := postTLS(t, noCert, parURL, pushed); code != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("PAR without the certificate: %d %v", code, body)
			}
			code, body := postTLS(t, withCert, parURL, pushed)
			if code != http.StatusCreated {
				t.Fatalf("PAR: %d %v", code, body)
			}
			back := authorize(t, browser, issuer+"/oauth/v2/authorize?"+url.Values{"client_id": {bank.ClientID}, "request_uri": {body["request_uri"].(string)}}.Encode(),
				"alice", password)
			if back.Query().Get("iss") != issuer || back.Query().Get("code") == "" {
				t.Fatalf("authorization response: %s", back)
			}
			redeem := url.Values{"grant_type": {"authorization_code"}, "client_id": {bank.ClientID}, "code": {back.Query().Get("code")},
				"redirect_uri": {redirect}, "code_verifier": {verifier}}
			code, tokens := postTLS(t, withCert, tokenURL, redeem)
			if code != http.StatusOK || tokens["id_token"] == nil {
				t.Fatalf("code redemption: %d %v", code, tokens)
			}
			at := tokens["access_token"].(string)
			if got := cnfOf(t, withCert, issuer, at); got != thumbprint(e.self.Cert) {
				t.Fatalf("cnf x5t#S256 %q, want the certificate's", got)
			}
			if code, body, _ := getTLS(t, withCert, userinfoURL, at); code != http.StatusOK || body["sub"] == nil {
				t.Fatalf("userinfo with the certificate: %d %v", code, body)
			}
			for name, c := range map[string]*http.Client{"without a certificate": noCert, "with another certificate": otherCert} {
				if code, body, challenge := getTLS(t, c, userinfoURL, at); code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
					t.Fatalf("userinfo %s: %d %v %q", name, code, body, challenge)
				}
			}
		})

		t.Run("ok/a public client's refresh token is bound to its certificate", func(t *testing.T) {
			cert := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "native"}})
			app := tlsClient(roots, &cert)
			verifier := oauth2.GenerateVerifier()
			cfg := oauth2.Config{ClientID: native.ClientID, RedirectURL: redirect, Scopes: []string{"openid", "offline_access"},
				Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth/v2/authorize", TokenURL: tokenURL}}
			back := authorize(t, browser, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), "alice", password)
			redeem := url.Values{"grant_type": {"authorization_code"}, "client_id": {native.ClientID}, "code": {back.Query().Get("code")},
				"redirect_uri": {redirect}, "code_verifier": {verifier}}
			code, tokens := postTLS(t, app, tokenURL, redeem)
			if code != http.StatusOK || tokens["refresh_token"] == nil {
				t.Fatalf("code redemption: %d %v", code, tokens)
			}
			if got := cnfOf(t, app, issuer, tokens["access_token"].(string)); got != thumbprint(cert.Cert) {
				t.Fatalf("cnf x5t#S256 %q, want the certificate's", got)
			}
			refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {native.ClientID}, "refresh_token": {tokens["refresh_token"].(string)}}
			if code, body := postTLS(t, otherCert, tokenURL, refresh); code != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("refresh with another certificate: %d %v", code, body)
			}
			if code, body := postTLS(t, noCert, tokenURL, refresh); code != http.StatusBadRequest || body["error"] != "invalid_grant" && body["error"] != "invalid_request" {
				t.Fatalf("refresh without a certificate: %d %v", code, body)
			}
			code, body := postTLS(t, app, tokenURL, refresh)
			if code != http.StatusOK || body["refresh_token"] == nil {
				t.Fatalf("refresh with the certificate (not spent by the refusals): %d %v", code, body)
			}
			if got := cnfOf(t, app, issuer, body["access_token"].(string)); got != thumbprint(cert.Cert) {
				t.Fatalf("refreshed cnf x5t#S256 %q, want the certificate's", got)
			}
		})
	})
}
