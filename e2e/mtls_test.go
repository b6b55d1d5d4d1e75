package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	sdk "github.com/castellan-iam/castellan/client"
	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// mtlsEnv is a Castellan with certificate-bound clients: a trust set of
// the bank's CA (with a CRL), and clients of both RFC 8705 methods.
type mtlsEnv struct {
	p                 *proc
	token             string
	bank, other       *certtest.CA
	good, revoked     certtest.Cert
	expired, future   certtest.Cert
	foreign, wrongSub certtest.Cert
	self              certtest.Cert
	pki, selfApp, api application
	apiSecret         string
	dir               string
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// apiCall calls the management API of p with token and fails the test
// unless it answers 200; out, if not nil, receives the JSON answer.
func apiCall(t testing.TB, p *proc, token, method, path string, body, out any) {
	t.Helper()
	code, raw := apiTry(t, p, token, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, code, raw)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(raw), out); err != nil {
			t.Fatal(err)
		}
	}
}

// apiTry calls the management API of p with token and returns the status
// and body, whatever they are.
func apiTry(t testing.TB, p *proc, token, method, path string, body any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// setupMTLS registers the trust set and the clients on a started server.
func setupMTLS(t testing.TB, p *proc, b backend, e *mtlsEnv) {
	t.Helper()
	token, stderr, err := castellan(t, b.env, "tokens", "create", "admin", "1h")
	if err != nil {
		t.Fatalf("tokens create: %v\n%s", err, stderr)
	}
	e.p, e.token = p, strings.TrimSpace(token)
	var me struct {
		User struct {
			OrganizationID string `json:"organizationId"`
		} `json:"user"`
	}
	apiCall(t, p, e.token, http.MethodGet, "/v1/me", nil, &me)
	apiCall(t, p, e.token, http.MethodPost, "/v1/trust-sets", map[string]any{"name": "Banks", "certificates": e.bank.PEM(),
		"crls": e.bank.CRL(t, time.Now().Add(time.Hour), e.revoked), "default": true}, nil)
	var project struct {
		Project struct {
			ID string `json:"id"`
		} `json:"project"`
	}
	apiCall(t, p, e.token, http.MethodPost, "/v1/projects", map[string]any{"organizationId": me.User.OrganizationID, "name": "Market Data"}, &project)
	create := func(spec map[string]any) (application, string) {
		var created struct {
			Application  application `json:"application"`
			ClientSecret string      `json:"clientSecret"`
		}
		apiCall(t, p, e.token, http.MethodPost, "/v1/projects/"+project.Project.ID+"/applications", spec, &created)
		return created.Application, created.ClientSecret
	}
	e.pki, _ = create(map[string]any{"name": "bank-a", "grantTypes": []string{"client_credentials"}, "authMethod": "tls_client_auth",
		"tlsClientAuth": map[string]any{"subjectDn": "CN=payments, O=Example Bank, C=DE"}, "certificateBoundTokens": true})
	e.selfApp, _ = create(map[string]any{"name": "bank-b", "grantTypes": []string{"client_credentials"}, "authMethod": "self_signed_tls_client_auth",
		"certificates": e.self.PEM(), "certificateBoundTokens": true, "accessTokenType": "ACCESS_TOKEN_TYPE_OPAQUE"})
	e.api, e.apiSecret = create(map[string]any{"name": "market-data-api", "kind": "APPLICATION_KIND_API"})
}

func newMTLSEnv(t testing.TB) *mtlsEnv {
	e := &mtlsEnv{bank: certtest.NewCA(t, "Example Bank Root"), other: certtest.NewCA(t, "Other Root"), dir: t.TempDir()}
	subject := pkix.Name{CommonName: "payments", Organization: []string{"Example Bank"}, Country: []string{"DE"}}
	e.good = e.bank.Issue(t, certtest.Options{Subject: subject})
	e.revoked = e.bank.Issue(t, certtest.Options{Subject: subject})
	e.expired = e.bank.Issue(t, certtest.Options{Subject: subject, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	e.future = e.bank.Issue(t, certtest.Options{Subject: subject, NotBefore: time.Now().Add(time.Hour)})
	e.foreign = e.other.Issue(t, certtest.Options{Subject: subject})
	e.wrongSub = e.bank.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "treasury", Organization: []string{"Example Bank"}, Country: []string{"DE"}}})
	e.self = certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "bank-b"}})
	return e
}

// tlsClient trusts roots and presents cert (none when nil).
func tlsClient(roots *x509.CertPool, cert *certtest.Cert) *http.Client {
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Always sent, even when the server names CAs it does not chain
		// to (Go's client would otherwise send none).
		c := cert.TLS()
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func tokenRequest(t testing.TB, c *http.Client, tokenURL, clientID string, header http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// cnfOf returns the x5t#S256 of a JWT access token, verified with the
// issuer's keys.
func cnfOf(t *testing.T, c *http.Client, issuer, raw string) string {
	t.Helper()
	resp, err := c.Get(issuer + "/oauth/v2/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		t.Fatal("no key for the token")
	}
	var claims struct {
		Cnf struct {
			X5T string `json:"x5t#S256"`
		} `json:"cnf"`
	}
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Cnf.X5T
}

// Castellan terminating TLS itself: the main listener requests a client
// certificate, the dedicated mTLS listener requires one. Go's HTTP client
// and curl obtain certificate-bound tokens; every bad certificate is a
// plain invalid_client with the reason in the log; the SDK middleware
// accepts a bound token only with its certificate.
func TestMTLSDirect(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		e := newMTLSEnv(t)
		serverCA := certtest.NewCA(t, "Server Root")
		srvCert := serverCA.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, IPs: []string{"127.0.0.1"}, Server: true})
		roots := x509.NewCertPool()
		roots.AddCert(serverCA.Cert.Cert)
		certFile, keyFile := writeFile(t, e.dir, "server.pem", srvCert.PEM()), writeFile(t, e.dir, "server.key", srvCert.KeyPEM(t))
		mport := freePort(t)
		p := startTLS(t, tlsClient(roots, nil), b.env, "--tls-cert-file", certFile, "--tls-key-file", keyFile,
			"--mtls-listen", fmt.Sprintf("127.0.0.1:%d", mport))
		setupMTLS(t, p, b, e)
		issuer, tokenURL := p.url, p.url+"/oauth/v2/token"

		// Discovery announces the methods, bound tokens and the aliases.
		var meta struct {
			Methods []string          `json:"token_endpoint_auth_methods_supported"`
			Bound   bool              `json:"tls_client_certificate_bound_access_tokens"`
			Aliases map[string]string `json:"mtls_endpoint_aliases"`
		}
		apiCall(t, p, e.token, http.MethodGet, "/.well-known/openid-configuration", nil, &meta)
		mtlsToken := fmt.Sprintf("https://localhost:%d/oauth/v2/token", mport)
		if !strings.Contains(strings.Join(meta.Methods, " "), "self_signed_tls_client_auth") || !meta.Bound || meta.Aliases["token_endpoint"] != mtlsToken {
			t.Fatalf("discovery: %+v", meta)
		}

		good := tlsClient(roots, &e.good)
		code, body := tokenRequest(t, good, tokenURL, e.pki.ClientID, nil)
		if code != http.StatusOK {
			t.Fatalf("tls_client_auth with the good certificate: %d %v", code, body)
		}
		pkiToken := body["access_token"].(string)
		if got := cnfOf(t, good, issuer, pkiToken); got != thumbprint(e.good.Cert) {
			t.Fatalf("cnf x5t#S256 = %q, want %q", got, thumbprint(e.good.Cert))
		}
		if code, body := tokenRequest(t, good, mtlsToken, e.pki.ClientID, nil); code != http.StatusOK {
			t.Fatalf("the mTLS alias: %d %v", code, body)
		}
		if _, err := tlsClient(roots, nil).Post(mtlsToken, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials")); err == nil {
			t.Fatal("the mTLS listener accepted a connection without a client certificate")
		}

		for _, tc := range []struct {
			name   string
			client *http.Client
			app    application
			reason string
		}{
			{"fail/no certificate", tlsClient(roots, nil), e.pki, "no client certificate"},
			{"fail/expired", tlsClient(roots, &e.expired), e.pki, "expired at"},
			{"fail/not yet valid", tlsClient(roots, &e.future), e.pki, "not valid before"},
			{"fail/revoked by the CRL", tlsClient(roots, &e.revoked), e.pki, "was revoked at"},
			{"fail/another CA", tlsClient(roots, &e.foreign), e.pki, "does not trust"},
			{"fail/another subject", tlsClient(roots, &e.wrongSub), e.pki, "is not the registered"},
			{"fail/a CA certificate for a self-signed client", good, e.selfApp, "is not one the client registered"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, body := tokenRequest(t, tc.client, tokenURL, tc.app.ClientID, nil)
				if code != http.StatusUnauthorized || body["error"] != "invalid_client" || body["error_description"] != "client authentication failed" {
					t.Fatalf("%d %v, want a plain invalid_client", code, body)
				}
				deadline := time.Now().Add(5 * time.Second)
				for !strings.Contains(p.stderr.String(), tc.reason) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if !strings.Contains(p.stderr.String(), tc.reason) {
					t.Fatalf("the log does not say %q", tc.reason)
				}
			})
		}
		// The refusals are in the audit trail.
		var events struct {
			Events []struct {
				Type    string         `json:"type"`
				Payload map[string]any `json:"payload"`
			} `json:"events"`
		}
		// The event list shows what every reader can see without a gap
		// (on PostgreSQL, what older transactions in flight no longer
		// hide), so it may take a moment.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			apiCall(t, p, e.token, http.MethodGet, "/v1/events?eventTypes=oauth_client.certificate.refused&aggregateType=oauth_client", nil, &events)
			if len(events.Events) > 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(events.Events) == 0 {
			// A transaction of another database of the same PostgreSQL
			// cluster, in flight since before this test's events, hides
			// them all from the gap-safe list: then the trust set's event,
			// written before the refusals, is hidden too.
			var earlier struct {
				Events []any `json:"events"`
			}
			apiCall(t, p, e.token, http.MethodGet, "/v1/events?eventTypes=trust_set.added", nil, &earlier)
			if len(earlier.Events) > 0 || b.name != "postgres" {
				t.Fatalf("no audit event of the refusals, while earlier events are listed")
			}
			t.Logf("the event list is held back by a long transaction elsewhere in the cluster; the audit event is checked on SQLite")
		} else if !strings.Contains(fmt.Sprint(events.Events), "reason") {
			t.Fatalf("audit events: %+v", events)
		}

		// curl with --cert/--key: a self-signed client obtains an opaque
		// token bound to its certificate, reported by introspection.
		if _, err := exec.LookPath("curl"); err != nil {
			t.Fatal("curl is required")
		}
		out, err := exec.Command("curl", "-sS", "--cacert", writeFile(t, e.dir, "ca.pem", serverCA.PEM()),
			"--cert", writeFile(t, e.dir, "self.pem", e.self.PEM()), "--key", writeFile(t, e.dir, "self.key", e.self.KeyPEM(t)),
			"-d", "grant_type=client_credentials", "-d", "client_id="+e.selfApp.ClientID, tokenURL).CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v: %s", err, out)
		}
		var curled map[string]any
		if err := json.Unmarshal(out, &curled); err != nil || curled["access_token"] == nil {
			t.Fatalf("curl got %s", out)
		}
		opaque := curled["access_token"].(string)
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/v2/introspect", strings.NewReader(url.Values{"token": {opaque}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.api.ClientID, e.apiSecret)
		resp, err := tlsClient(roots, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var intro struct {
			Active bool `json:"active"`
			Cnf    struct {
				X5T string `json:"x5t#S256"`
			} `json:"cnf"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&intro)
		resp.Body.Close()
		if !intro.Active || intro.Cnf.X5T != thumbprint(e.self.Cert) {
			t.Fatalf("introspection: %+v", intro)
		}

		// The SDK middleware: a resource server over TLS that requests
		// client certificates.
		rs := httptest.NewUnstartedServer(sdk.RequireAccessToken(sdk.AccessTokenOptions{Issuer: issuer, HTTPClient: tlsClient(roots, nil),
			ClientID: e.api.ClientID, ClientSecret: e.apiSecret})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, _ := sdk.AccessTokenFromRequest(r)
			io.WriteString(w, tok.ClientID)
		})))
		rs.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
		rs.StartTLS()
		defer rs.Close()
		rsRoots := x509.NewCertPool()
		rsRoots.AddCert(rs.Certificate())
		call := func(cert *certtest.Cert, token string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, rs.URL, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := tlsClient(rsRoots, cert).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := call(&e.good, pkiToken); code != http.StatusOK || body != e.pki.ClientID {
			t.Fatalf("the SDK with the token's certificate: %d %s", code, body)
		}
		if code, body := call(&e.self, opaque); code != http.StatusOK || body != e.selfApp.ClientID {
			t.Fatalf("the SDK with an opaque token and its certificate: %d %s", code, body)
		}
		if code, _ := call(&e.wrongSub, pkiToken); code != http.StatusUnauthorized {
			t.Fatalf("the SDK with another certificate: %d", code)
		}
		if code, _ := call(nil, pkiToken); code != http.StatusUnauthorized {
			t.Fatalf("the SDK without a certificate: %d", code)
		}
		if code, _ := call(&e.good, opaque); code != http.StatusUnauthorized {
			t.Fatalf("the SDK with an opaque token and another certificate: %d", code)
		}

		// Another subject registered through the API counts at once; the
		// previous one no longer does once the client cache turned.
		apiCall(t, p, e.token, http.MethodPatch, "/v1/applications/"+e.pki.ID, map[string]any{
			"tlsClientAuth": map[string]any{"subjectDn": "CN=treasury,O=Example Bank,C=DE"}}, nil)
		if code, body := tokenRequest(t, tlsClient(roots, &e.wrongSub), tokenURL, e.pki.ClientID, nil); code != http.StatusOK {
			t.Fatalf("the newly registered subject: %d %v", code, body)
		}
		time.Sleep(1100 * time.Millisecond)
		if code, _ := tokenRequest(t, good, tokenURL, e.pki.ClientID, nil); code != http.StatusUnauthorized {
			t.Fatalf("the previous subject after the update: %d", code)
		}
	})
}
