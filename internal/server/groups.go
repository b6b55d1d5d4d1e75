package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// Group is a family of routes that share middleware: what a response may
// load (Content-Security-Policy), what a request must prove, what is
// captured from the connection.
type Group int

// The route groups.
const (
	// GroupAPI serves machines: the management API, the OpenAPI document,
	// operational endpoints. Responses are data, never pages, so they may
	// load nothing (CSP default-src 'none').
	GroupAPI Group = iota
	// GroupPages serves HTML to browsers (the hosted login and console):
	// scripts and styles run only with the response's nonce (Nonce).
	GroupPages
	// GroupOAuth serves the provider's endpoints; the client certificate
	// of a TLS connection is captured for certificate-bound clients
	// (ClientCertificate). Responses may load nothing, as the API's.
	GroupOAuth
)

func (g Group) String() string {
	switch g {
	case GroupPages:
		return "pages"
	case GroupOAuth:
		return "oauth"
	}
	return "api"
}

// groupPrefixes decide, in one place, which group a path belongs to: the
// first prefix that matches wins, and a path matching none is the API's.
var groupPrefixes = []struct {
	prefix string
	group  Group
}{
	{"/.well-known/openid-configuration", GroupOAuth},
	{"/.well-known/oauth-authorization-server", GroupOAuth},
	{"/oauth/", GroupOAuth},
	{"/oidc/", GroupOAuth},
	{"/saml/", GroupOAuth},
	{"/ui/", GroupPages},
	{"/login/", GroupPages},
	{"/account/", GroupPages},
}

// GroupOf returns the group of a request path, or of a ServeMux pattern
// ("GET /oauth/token", "/ui/login/{id}").
func GroupOf(pattern string) Group {
	path := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		path = p
	}
	if i := strings.IndexByte(path, '/'); i > 0 { // "host/path" patterns
		path = path[i:]
	}
	for _, g := range groupPrefixes {
		if strings.HasPrefix(path, g.prefix) {
			return g.group
		}
	}
	return GroupAPI
}

// apiCSP lets a response load nothing and be framed by nobody.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// inGroup wraps h with the middleware of group g.
func (s *Server) inGroup(g Group, h http.Handler) http.Handler {
	switch g {
	case GroupPages:
		return pages(h)
	case GroupOAuth:
		return s.oauth(h)
	}
	return api(h)
}

func api(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Security-Policy"] = apiCSPValue
		h.ServeHTTP(w, r)
	})
}

type nonceKey struct{}

// Nonce is the Content-Security-Policy nonce of a page's response: the
// page's <script> and <style> elements carry it, nothing else runs.
func Nonce(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

func pages(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			WriteError(w, r, err)
			return
		}
		nonce := base64.RawStdEncoding.EncodeToString(b)
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
			"'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

func (s *Server) oauth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr["Content-Security-Policy"] = apiCSPValue
		hdr["Cache-Control"] = noStoreValue
		h.ServeHTTP(w, s.certs.capture(r))
	})
}
