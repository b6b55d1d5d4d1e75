package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestGroupOf(t *testing.T) {
	for pattern, want := range map[string]Group{
		"/v1/":                                  GroupAPI,
		"/castellan.user.v1.UserService/":       GroupAPI,
		"GET /openapi.json":                     GroupAPI,
		"GET /{$}":                              GroupAPI,
		"POST /oauth/token":                     GroupOAuth,
		"GET /.well-known/openid-configuration": GroupOAuth,
		"/ui/login/{id}":                        GroupPages,
		"GET /login/":                           GroupPages,
		"a.test/ui/console/":                    GroupPages,
		"/uix":                                  GroupAPI,
	} {
		if got := GroupOf(pattern); got != want {
			t.Errorf("GroupOf(%q) = %s, want %s", pattern, got, want)
		}
	}
}

// TestRouteGroupsHaveTheirOwnMiddleware: API responses may load nothing,
// pages run only scripts with their response's nonce, and OAuth routes see
// the client certificate of the TLS connection.
func TestRouteGroupsHaveTheirOwnMiddleware(t *testing.T) {
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	s.Handle("GET /v1/thing", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") }))
	s.Handle("GET /ui/page", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<script nonce="`+Nonce(r.Context())+`"></script>`)
	}))
	whoami := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := ClientCertificate(r.Context()); c != nil {
			io.WriteString(w, c.Subject.CommonName)
		}
	})
	s.Handle("GET /oauth/whoami", whoami)
	s.Handle("GET /v1/whoami", whoami)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "a.test"
		s.ServeHTTP(rec, req)
		return rec
	}
	if csp := get("/v1/thing").Header().Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(csp, "nonce") {
		t.Fatalf("API CSP %q", csp)
	}
	first, second := get("/ui/page"), get("/ui/page")
	csp := first.Header().Get("Content-Security-Policy")
	nonce := ""
	if i := strings.Index(csp, "'nonce-"); i >= 0 {
		nonce = csp[i+len("'nonce-"):]
		nonce = nonce[:strings.IndexByte(nonce, '\'')]
	}
	if len(nonce) < 16 || !strings.Contains(first.Body.String(), `nonce="`+nonce+`"`) || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("page CSP %q, body %q", csp, first.Body.String())
	}
	if second.Header().Get("Content-Security-Policy") == csp {
		t.Fatal("two pages share a nonce")
	}
	if got := get("/no/such/route").Header().Get("Content-Security-Policy"); !strings.HasPrefix(got, "default-src 'none'") {
		t.Fatalf("unmatched route CSP %q", got)
	}

	// The OAuth group sees a TLS client certificate; the API group is not
	// given it.
	withCert := func(path string) string {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "a.test"
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkixName("client-1")}}}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	if got := withCert("/oauth/whoami"); got != "client-1" {
		t.Fatalf("OAuth route saw %q", got)
	}
	if got := withCert("/v1/whoami"); got != "" {
		t.Fatalf("API route saw the client certificate %q", got)
	}
}

func pkixName(cn string) pkix.Name { return pkix.Name{CommonName: cn} }

// TestEachInstanceIsItsOwnIssuer: the issuer comes from the instance's
// domain with the external URL's scheme and port.
func TestEachInstanceIsItsOwnIssuer(t *testing.T) {
	s := New(Options{
		Logger:      slog.New(slog.DiscardHandler),
		Resolver:    fakeResolver{"a.test": {ID: "inst-a", PrimaryDomain: "a.test"}, "id.b.test": {ID: "inst-b", PrimaryDomain: "id.b.test"}},
		Ready:       func(context.Context) error { return nil },
		Metrics:     prometheus.NewRegistry(),
		ExternalURL: "https://a.test:8443",
	})
	for host, want := range map[string]string{"a.test": `"issuer":"https://a.test:8443"`, "id.b.test": `"issuer":"https://id.b.test:8443"`} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		s.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %s, want %s", host, rec.Body.String(), want)
		}
	}
}
