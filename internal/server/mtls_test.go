package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/castellan-iam/castellan/internal/oauth/trustset/certtest"
)

// forwarded are header values of each format for the chain leaf, ca.
func forwarded(t testing.TB) (leaf, ca certtest.Cert, values map[string]string) {
	root := certtest.NewCA(t, "Proxy Test Root")
	leaf = root.Issue(t, certtest.Options{Subject: pkix.Name{CommonName: "client"}})
	ca = root.Cert
	b64 := base64.StdEncoding.EncodeToString(leaf.Cert.Raw)
	return leaf, ca, map[string]string{
		CertNginx:   url.PathEscape(leaf.PEM()),
		CertAWSALB:  strings.ReplaceAll(url.PathEscape(leaf.PEM()), "%2F", "/"),
		CertEnvoy:   `By=spiffe://proxy;Hash=abc,By=spiffe://edge;Hash=def;Cert="` + url.PathEscape(leaf.PEM()) + `";Subject="CN=client,O=\"Quoted; Inc\""`,
		CertTraefik: url.QueryEscape(b64) + "," + url.QueryEscape(base64.StdEncoding.EncodeToString(ca.Cert.Raw)),
		CertHAProxy: b64,
		CertRFC9440: ":" + b64 + ":",
	}
}

func TestParseForwardedCertificate(t *testing.T) {
	leaf, _, values := forwarded(t)
	for format, value := range values {
		t.Run("ok/"+format, func(t *testing.T) {
			chain, err := ParseForwardedCertificate(format, value)
			if err != nil {
				t.Fatal(err)
			}
			if !chain[0].Equal(leaf.Cert) {
				t.Fatalf("got %s", chain[0].Subject)
			}
		})
	}
	for _, tc := range []struct{ name, format, value string }{
		{"fail/nginx not PEM", CertNginx, "hello"},
		{"fail/nginx a key, not a certificate", CertNginx, url.QueryEscape(leaf.KeyPEM(t))},
		{"fail/envoy without Cert", CertEnvoy, `By=spiffe://proxy;Hash=abc`},
		{"fail/envoy unterminated quote", CertEnvoy, `Cert="abc`},
		{"fail/traefik not base64", CertTraefik, "%%%"},
		{"fail/haproxy not DER", CertHAProxy, base64.StdEncoding.EncodeToString([]byte("not a certificate"))},
		{"fail/rfc9440 without colons", CertRFC9440, base64.StdEncoding.EncodeToString(leaf.Cert.Raw)},
		{"fail/too long", CertHAProxy, strings.Repeat("A", MaxForwardedCertBytes+1)},
		{"fail/empty", CertNginx, " "},
		{"fail/unknown format", "iis", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if chain, err := ParseForwardedCertificate(tc.format, tc.value); err == nil {
				t.Fatalf("parsed %d certificates", len(chain))
			}
		})
	}
}

// TestForwardedCertificateOnlyFromTrustedProxies: the header is believed
// from a trusted proxy, ignored (and counted) from anyone else, and the
// TLS connection's certificate is used otherwise.
func TestForwardedCertificateOnlyFromTrustedProxies(t *testing.T) {
	leaf, _, values := forwarded(t)
	direct := certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "direct"}})
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	s := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Resolver: fakeResolver{"a.test": {ID: "inst-a"}},
		Ready: func(context.Context) error { return nil }, Metrics: reg,
		ClientCertificates: ClientCertificateOptions{Format: CertNginx, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
	s.Handle("GET /oauth/whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := ClientCertificate(r.Context()); c != nil {
			io.WriteString(w, c.Subject.CommonName)
		}
	}))
	get := func(peer, header string, tlsCert *certtest.Cert) string {
		req := httptest.NewRequest(http.MethodGet, "/oauth/whoami", nil)
		req.Host, req.RemoteAddr = "a.test", peer
		if header != "" {
			req.Header.Set("X-SSL-Client-Cert", header)
		}
		if tlsCert != nil {
			req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tlsCert.Cert}}
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	if got := get("10.1.2.3:5555", values[CertNginx], nil); got != "client" {
		t.Fatalf("from a trusted proxy: %q", got)
	}
	if got := get("10.1.2.3:5555", values[CertNginx], &direct); got != "client" {
		t.Fatalf("from a trusted proxy with its own TLS certificate: %q", got)
	}
	if got := get("192.0.2.7:5555", values[CertNginx], nil); got != "" {
		t.Fatalf("from an untrusted peer: %q, want no certificate", got)
	}
	if got := get("192.0.2.7:5555", values[CertNginx], &direct); got != "direct" {
		t.Fatalf("from an untrusted peer with a TLS certificate: %q, want the connection's", got)
	}
	if got := get("10.1.2.3:5555", "garbage", nil); got != "" {
		t.Fatalf("an invalid header: %q", got)
	}
	if got := get("10.1.2.3:5555", "", &direct); got != "" {
		t.Fatalf("a trusted proxy that forwarded none: %q", got)
	}
	counter, _ := s.certs.headers.GetMetricWithLabelValues("untrusted_peer")
	invalid, _ := s.certs.headers.GetMetricWithLabelValues("invalid")
	accepted, _ := s.certs.headers.GetMetricWithLabelValues("accepted")
	if testutil.ToFloat64(counter) != 2 || testutil.ToFloat64(invalid) != 1 || testutil.ToFloat64(accepted) != 2 {
		t.Fatalf("counted untrusted %v, invalid %v, accepted %v", testutil.ToFloat64(counter), testutil.ToFloat64(invalid), testutil.ToFloat64(accepted))
	}
	if !strings.Contains(logs.String(), "not a trusted proxy was ignored") || !strings.Contains(logs.String(), "192.0.2.7") {
		t.Fatalf("log: %s", logs.String())
	}
	_ = leaf
}

func fuzzFormat(f *testing.F, format string) {
	_, _, values := forwarded(f)
	f.Add(values[format])
	f.Add("")
	f.Add(`Cert="%2D%2D";Chain=""`)
	f.Add(":AAAA:")
	f.Fuzz(func(t *testing.T, value string) {
		chain, err := ParseForwardedCertificate(format, value)
		if err == nil && (len(chain) == 0 || len(chain) > maxChain) {
			t.Fatalf("%d certificates without error", len(chain))
		}
		if len(value) > MaxForwardedCertBytes && err == nil {
			t.Fatal("an oversized header parsed")
		}
	})
}

func FuzzForwardedNginx(f *testing.F)   { fuzzFormat(f, CertNginx) }
func FuzzForwardedEnvoy(f *testing.F)   { fuzzFormat(f, CertEnvoy) }
func FuzzForwardedTraefik(f *testing.F) { fuzzFormat(f, CertTraefik) }
func FuzzForwardedHAProxy(f *testing.F) { fuzzFormat(f, CertHAProxy) }
func FuzzForwardedAWSALB(f *testing.F)  { fuzzFormat(f, CertAWSALB) }
func FuzzForwardedRFC9440(f *testing.F) { fuzzFormat(f, CertRFC9440) }

func FuzzRFC9440Chain(f *testing.F) {
	_, ca, values := forwarded(f)
	f.Add(values[CertRFC9440] + ", :" + base64.StdEncoding.EncodeToString(ca.Cert.Raw) + ":")
	f.Fuzz(func(t *testing.T, value string) {
		chain, err := parseRFC9440Chain(value)
		if err == nil && len(chain) > maxChain {
			t.Fatalf("%d certificates", len(chain))
		}
	})
}
