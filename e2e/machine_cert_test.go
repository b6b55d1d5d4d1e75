package e2e

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// A certificate is one more authenticator of a machine user: the user
// registers a certificate (self-signed) or a subject validated against
// the instance's trust set, through the user API, then obtains its own
// token with client_credentials — its user id as client_id, Go's HTTP
// client presenting the certificate directly over TLS — bound to the
// certificate. Refused: another certificate, an expired one, a revoked
// one, another subject, a removed registration; and registrations of a
// user type without client_certificate, of an expired or a private key
// PEM, of a certificate registered before, of an unknown trust set.
func TestMachineCertificate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newMTLSEnv(t)
		serverCA := certtest.NewCA(t, "Server Root")
		srvCert := serverCA.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, IPs: []string{"127.0.0.1"}, Server: true})
		roots := x509.NewCertPool()
		roots.AddCert(serverCA.Cert.Cert)
		certFile, keyFile := writeFile(t, e.dir, "server.pem", srvCert.PEM()), writeFile(t, e.dir, "server.key", srvCert.KeyPEM(t))
		p := startTLS(t, tlsClient(roots, nil), b.env, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
		setupMTLS(t, p, b, e)
		issuer, tokenURL := p.url, p.url+"/oauth/v2/token"

		var me struct {
			User struct {
				ID             string `json:"id"`
				OrganizationID string `json:"organizationId"`
			} `json:"user"`
		}
		apiCall(t, p, e.token, http.MethodGet, "/v1/me", nil, &me)
		var created struct {
			UserID string `json:"userId"`
		}
		apiCall(t, p, e.token, http.MethodPost, "/v1/users", map[string]any{"organizationId": me.User.OrganizationID, "type": "machine",
			"loginName": "feed", "traits": map[string]any{"name": "feed"}}, &created)
		feed := created.UserID
		self := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "feed"}})
		var added struct {
			Certificate struct {
				ID         string `json:"id"`
				Thumbprint string `json:"thumbprint"`
			} `json:"certificate"`
		}
		apiCall(t, p, e.token, http.MethodPost, "/v1/users/"+feed+"/certificates", map[string]any{"certificate": self.PEM()}, &added)
		if added.Certificate.Thumbprint != thumbprint(self.Cert) {
			t.Fatalf("registered thumbprint %q, want %q", added.Certificate.Thumbprint, thumbprint(self.Cert))
		}
		selfID := added.Certificate.ID
		apiCall(t, p, e.token, http.MethodPost, "/v1/users/"+feed+"/certificates",
			map[string]any{"subject": map[string]any{"subjectDn": "CN=payments, O=Example Bank, C=DE"}}, nil)
		var list struct {
			Certificates []map[string]any `json:"certificates"`
		}
		apiCall(t, p, e.token, http.MethodGet, "/v1/users/"+feed+"/certificates", nil, &list)
		if len(list.Certificates) != 2 {
			t.Fatalf("listed %v", list)
		}

		for _, tc := range []struct {
			name string
			cert certtest.Cert
		}{{"ok/a registered self-signed certificate", self}, {"ok/a certificate of the trust set with the registered subject", e.good}} {
			t.Run(tc.name, func(t *testing.T) {
				c := tlsClient(roots, &tc.cert)
				code, body := tokenRequest(t, c, tokenURL, feed, nil)
				if code != http.StatusOK || body["token_type"] != "Bearer" || body["refresh_token"] != nil {
					t.Fatalf("%d %v", code, body)
				}
				raw := body["access_token"].(string)
				if got := cnfOf(t, c, issuer, raw); got != thumbprint(tc.cert.Cert) {
					t.Fatalf("cnf x5t#S256 = %q, want the certificate's", got)
				}
				claims := accessTokenClaims(t, raw)
				if claims["sub"] != feed || claims["client_id"] != feed || fmt.Sprint(claims["aud"]) != fmt.Sprint([]any{issuer}) {
					t.Fatalf("claims %v", claims)
				}
			})
		}
		t.Run("ok/the machine introspects and revokes its own token with its certificate", func(t *testing.T) {
			c := tlsClient(roots, &self)
			post := func(c *http.Client, path string, form url.Values) (int, map[string]any) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				return resp.StatusCode, body
			}
			code, body := tokenRequest(t, c, tokenURL, feed, nil)
			if code != http.StatusOK {
				t.Fatalf("%d %v", code, body)
			}
			own := url.Values{"client_id": {feed}, "token": {body["access_token"].(string)}}
			if code, body := post(c, "/oauth/v2/introspect", own); code != http.StatusOK || body["active"] != true || body["client_id"] != feed {
				t.Fatalf("introspection of its own token: %d %v", code, body)
			}
			stranger := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "feed"}})
			for _, path := range []string{"/oauth/v2/introspect", "/oauth/v2/revoke"} {
				if code, body := post(tlsClient(roots, &stranger), path, own); code != http.StatusUnauthorized || body["error"] != "invalid_client" {
					t.Fatalf("%s with another certificate: %d %v", path, code, body)
				}
			}
			if code, body := post(c, "/oauth/v2/revoke", own); code != http.StatusOK {
				t.Fatalf("revocation: %d %v", code, body)
			}
			if code, body := post(c, "/oauth/v2/introspect", own); code != http.StatusOK || body["active"] != false {
				t.Fatalf("introspection after revocation: %d %v", code, body)
			}
		})
		t.Run("fail/a scope", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials&scope=openid&client_id="+feed))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := tlsClient(roots, &self).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_scope" {
				t.Fatalf("%s %v", resp.Status, body)
			}
		})

		other := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "feed"}})
		refusals := []struct {
			name   string
			client *http.Client
			reason string
		}{
			{"fail/another self-signed certificate", tlsClient(roots, &other), "not registered certificate"},
			{"fail/an expired certificate of the trust set", tlsClient(roots, &e.expired), "expired at"},
			{"fail/a revoked certificate", tlsClient(roots, &e.revoked), "was revoked at"},
			{"fail/another subject", tlsClient(roots, &e.wrongSub), "is not the registered"},
			{"fail/another CA", tlsClient(roots, &e.foreign), "does not trust"},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				code, body := tokenRequest(t, tc.client, tokenURL, feed, nil)
				if code != http.StatusUnauthorized || body["error"] != "invalid_client" || body["error_description"] != "client authentication failed" {
					t.Fatalf("%d %v, want a plain invalid_client", code, body)
				}
				waitLog(t, p, tc.reason)
			})
		}
		t.Run("fail/no certificate", func(t *testing.T) {
			code, body := tokenRequest(t, tlsClient(roots, nil), tokenURL, feed, nil)
			if code != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("%d %v", code, body)
			}
		})

		for _, tc := range []struct {
			name, user string
			body       map[string]any
			status     int
			says       string
		}{
			{"fail/register for a user type without client_certificate", me.User.ID, map[string]any{"certificate": other.PEM()}, 0, "do not authenticate with certificates"},
			{"fail/register an expired certificate", feed, map[string]any{"certificate": e.expired.PEM()}, http.StatusBadRequest, "expired at"},
			{"fail/register a private key", feed, map[string]any{"certificate": other.KeyPEM(t)}, http.StatusBadRequest, "not CERTIFICATE"},
			{"fail/register a certificate and a subject", feed, map[string]any{"certificate": other.PEM(), "subject": map[string]any{"sanDns": "feed.example"}},
				http.StatusBadRequest, "not both"},
			{"fail/register a certificate registered before", feed, map[string]any{"certificate": self.PEM()}, http.StatusConflict, ""},
			{"fail/register a subject of an unknown trust set", feed, map[string]any{"subject": map[string]any{"trustSetId": "nope", "sanDns": "feed.example"}},
				http.StatusBadRequest, "no trust set"},
			{"fail/register a subject with two values", feed, map[string]any{"subject": map[string]any{"sanDns": "feed.example", "sanEmail": "feed@example.com"}},
				http.StatusBadRequest, "exactly one"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, body := apiTry(t, p, e.token, http.MethodPost, "/v1/users/"+tc.user+"/certificates", tc.body)
				if code == http.StatusOK || tc.status != 0 && code != tc.status || !strings.Contains(body, tc.says) {
					t.Fatalf("%d %s, want %d saying %q", code, body, tc.status, tc.says)
				}
			})
		}

		t.Run("fail/a removed certificate", func(t *testing.T) {
			apiCall(t, p, e.token, http.MethodDelete, "/v1/users/"+feed+"/certificates/"+selfID, nil, nil)
			code, body := tokenRequest(t, tlsClient(roots, &self), tokenURL, feed, nil)
			if code != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("%d %v", code, body)
			}
			// The subject registration still works.
			if code, body := tokenRequest(t, tlsClient(roots, &e.good), tokenURL, feed, nil); code != http.StatusOK {
				t.Fatalf("%d %v", code, body)
			}
		})
		t.Run("fail/a deactivated machine user", func(t *testing.T) {
			apiCall(t, p, e.token, http.MethodPost, "/v1/users/"+feed+":deactivate", map[string]any{}, nil)
			code, body := tokenRequest(t, tlsClient(roots, &e.good), tokenURL, feed, nil)
			if code != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("%d %v", code, body)
			}
			waitLog(t, p, "is not active")
		})
		if b.name == "sqlite" {
			// The refusals are in the user's audit trail (on PostgreSQL,
			// the gap-safe event list may be held back by another
			// database's transaction: see TestMTLSDirect).
			var events struct {
				Events []map[string]any `json:"events"`
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				apiCall(t, p, e.token, http.MethodGet, "/v1/events?eventTypes=user.client_certificate.refused", nil, &events)
				if len(events.Events) > 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(events.Events) == 0 || !strings.Contains(fmt.Sprint(events.Events), feed) {
				t.Fatalf("no audit event of the refusals: %v", events)
			}
		}
	})
}

// waitLog waits until the server's log says s.
func waitLog(t *testing.T, p *proc, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), s) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), s) {
		t.Fatalf("the log does not say %q", s)
	}
}

// accessTokenClaims reads a JWT's claims without verifying them (cnfOf
// verified the token).
func accessTokenClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}
