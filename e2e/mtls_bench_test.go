package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// BenchmarkMTLSClientCredentials obtains client_credentials tokens from
// the real binary over its own TLS, one request at a time, alternating in
// one loop:
//
//   - secret: client_secret_basic on a kept-alive connection (the
//     reference);
//   - mtls-keepalive: tls_client_auth (chain to the trust set, CRL, subject
//     DN) with a certificate-bound token, on a kept-alive connection;
//   - mtls-resumed: the same on a new connection per request that resumes
//     the TLS session (a TLS 1.3 resumption; the client certificate is
//     not sent again, Go keeps it with the session);
//   - mtls-full: the same on a new connection per request with a full
//     handshake (client certificate sent and its signature checked).
//   - machine-keepalive: a machine user (not an application) with the
//     same certificate registered as a subject of the trust set,
//     client_credentials with its user id, on a kept-alive connection
//     (package machinecert: the user, its standing, its type and its
//     registrations read at every grant).
//
// It reports grants/s of each and each against secret. Left out: network
// latency (loopback), concurrency (one client), HTTP/2, a proxy in front,
// and the server's GOMAXPROCS (all cores of the machine, shared with the
// client).
func BenchmarkMTLSClientCredentials(b *testing.B) {
	e := newMTLSEnv(b)
	serverCA := certtest.NewCA(b, "Server Root")
	srvCert := serverCA.Issue(b, certtest.Options{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}, Server: true})
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert.Cert)
	env := []string{"CASTELLAN_DATA_DIR=" + b.TempDir()}
	p := startTLS(b, tlsClient(roots, nil), env, "--tls-cert-file", writeFile(b, e.dir, "server.pem", srvCert.PEM()),
		"--tls-key-file", writeFile(b, e.dir, "server.key", srvCert.KeyPEM(b)))
	setupMTLS(b, p, backend{name: "sqlite", env: env}, e)
	var created struct {
		Application  application `json:"application"`
		ClientSecret string      `json:"clientSecret"`
	}
	apiCall(b, p, e.token, "POST", "/v1/projects/"+e.pki.ProjectID+"/applications", map[string]any{"name": "secret-client",
		"grantTypes": []string{"client_credentials"}}, &created)
	tokenURL := p.url + "/oauth/v2/token"
	var me struct {
		User struct {
			OrganizationID string `json:"organizationId"`
		} `json:"user"`
	}
	apiCall(b, p, e.token, "GET", "/v1/me", nil, &me)
	var machine struct {
		UserID string `json:"userId"`
	}
	apiCall(b, p, e.token, "POST", "/v1/users", map[string]any{"organizationId": me.User.OrganizationID, "type": "machine", "loginName": "feed",
		"traits": map[string]any{"name": "feed"}}, &machine)
	apiCall(b, p, e.token, "POST", "/v1/users/"+machine.UserID+"/certificates",
		map[string]any{"subject": map[string]any{"subjectDn": "CN=payments, O=Example Bank, C=DE"}}, nil)

	cert := e.good.TLS()
	mtlsConfig := func(cache tls.ClientSessionCache) *tls.Config {
		return &tls.Config{RootCAs: roots, ClientSessionCache: cache,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
	}
	cases := []struct {
		name     string
		client   *http.Client
		secret   bool
		clientID string
	}{
		{"secret", &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, true, ""},
		{"mtls-keepalive", &http.Client{Transport: &http.Transport{TLSClientConfig: mtlsConfig(nil)}}, false, e.pki.ClientID},
		{"mtls-resumed", &http.Client{Transport: &http.Transport{TLSClientConfig: mtlsConfig(tls.NewLRUClientSessionCache(8)), DisableKeepAlives: true}}, false, e.pki.ClientID},
		{"mtls-full", &http.Client{Transport: &http.Transport{TLSClientConfig: mtlsConfig(nil), DisableKeepAlives: true}}, false, e.pki.ClientID},
		{"machine-keepalive", &http.Client{Transport: &http.Transport{TLSClientConfig: mtlsConfig(nil)}}, false, machine.UserID},
	}
	grant := func(c *http.Client, secret bool, clientID string) {
		form := url.Values{"grant_type": {"client_credentials"}}
		if !secret {
			form.Set("client_id", clientID)
		}
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if secret {
			req.SetBasicAuth(url.QueryEscape(created.Application.ClientID), url.QueryEscape(created.ClientSecret))
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s", resp.Status)
		}
	}
	for _, c := range cases { // warm up: keys, caches, a session to resume
		grant(c.client, c.secret, c.clientID)
	}
	spent := make([]time.Duration, len(cases))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, c := range cases {
			began := time.Now()
			for k := 0; k < 10; k++ {
				grant(c.client, c.secret, c.clientID)
			}
			spent[j] += time.Since(began)
		}
	}
	b.StopTimer()
	for j, c := range cases {
		rate := float64(10*b.N) / spent[j].Seconds()
		b.ReportMetric(rate, c.name+"-grants/s")
		if j > 0 {
			b.ReportMetric(spent[0].Seconds()/spent[j].Seconds(), c.name+"/secret")
		}
	}
	b.ReportMetric(0, "ns/op")
}
