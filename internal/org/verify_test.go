package org

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
)

const challengeToken = "c2VjcmV0LWNoYWxsZW5nZS10b2tlbi0wMQ"

// serve starts a web server on addr (an address of the loopback network).
func serve(t *testing.T, addr string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// answer serves the challenge file with body and status.
func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/castellan-challenge/"+challengeToken {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// redirect answers every request with a redirect to location.
func redirect(location string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, location, http.StatusFound) }
}

// routedVerifier is NewVerifier(allowed...) whose names resolve as hosts
// says: a host name maps to the IP address and port of a local server. The
// connection still goes through the verifier's own dialer, so the
// addresses are checked as in production.
func routedVerifier(t *testing.T, hosts map[string]string, allowed ...string) (*Verifier, *bytes.Buffer) {
	t.Helper()
	var prefixes []netip.Prefix
	for _, a := range allowed {
		prefixes = append(prefixes, netip.MustParsePrefix(a))
	}
	v := NewVerifier(prefixes...)
	dialer := newDialer(prefixes)
	v.HTTPClient.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		to, ok := hosts[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return dialer.DialContext(ctx, network, to)
	}
	var log bytes.Buffer
	v.Log = slog.New(slog.NewTextHandler(&log, nil))
	return v, &log
}

func addr(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func TestVerifyHTTPFetchesOnlyPublicAddresses(t *testing.T) {
	ok := serve(t, "127.0.0.1:0", answer(http.StatusOK, challengeToken+"\n"))
	internal := serve(t, "127.0.0.2:0", answer(http.StatusOK, challengeToken))
	hang := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	hosts := func(public string) map[string]string {
		return map[string]string{"acme.example": public, "internal.acme.example": addr(internal)}
	}
	for _, tc := range []struct {
		name    string
		domain  string
		public  *httptest.Server // acme.example; nil: a closed port
		allowed []string
		timeout time.Duration
		logs    string // the reason, in the log only
	}{
		{name: "fail/loopback address by default", domain: "acme.example", public: ok, logs: "not a public address: 127.0.0.1"},
		{name: "ok/loopback address in the allowed networks", domain: "acme.example", public: ok, allowed: []string{"127.0.0.0/8"}},
		{name: "fail/redirect to an internal address", domain: "acme.example", allowed: []string{"127.0.0.1/32"},
			public: serve(t, "127.0.0.1:0", redirect("http://internal.acme.example/.well-known/castellan-challenge/"+challengeToken)),
			logs:   "not a public address: 127.0.0.2"},
		{name: "ok/redirect within the allowed networks", domain: "acme.example", allowed: []string{"127.0.0.0/8"},
			public: serve(t, "127.0.0.1:0", redirect("http://internal.acme.example/.well-known/castellan-challenge/"+challengeToken))},
		{name: "fail/redirect to an IP literal", domain: "acme.example", allowed: []string{"127.0.0.0/8"},
			public: serve(t, "127.0.0.1:0", redirect("http://"+addr(internal)+"/.well-known/castellan-challenge/"+challengeToken)),
			logs:   "the URL names the IP address 127.0.0.2"},
		{name: "fail/redirect to another scheme", domain: "acme.example", allowed: []string{"127.0.0.0/8"},
			public: serve(t, "127.0.0.1:0", redirect("ftp://internal.acme.example/x")), logs: `scheme \"ftp\"`},
		{name: "fail/endless redirects", domain: "acme.example", allowed: []string{"127.0.0.0/8"},
			public: serve(t, "127.0.0.1:0", redirect("/again")), logs: "more than 5 redirects"},
		{name: "fail/IP literal as the domain", domain: "127.0.0.1", public: ok, allowed: []string{"127.0.0.0/8"}, logs: "the URL names the IP address"},
		{name: "fail/connection refused", domain: "acme.example", allowed: []string{"127.0.0.0/8"}, logs: "connection refused"},
		{name: "fail/no answer in time", domain: "acme.example", public: hang, allowed: []string{"127.0.0.0/8"}, timeout: 200 * time.Millisecond,
			logs: "Timeout"},
		{name: "fail/not found", domain: "acme.example", public: serve(t, "127.0.0.1:0", answer(http.StatusNotFound, challengeToken)),
			allowed: []string{"127.0.0.0/8"}, logs: "status 404"},
		{name: "fail/server error", domain: "acme.example", public: serve(t, "127.0.0.1:0", answer(http.StatusInternalServerError, "")),
			allowed: []string{"127.0.0.0/8"}, logs: "status 500"},
		{name: "fail/wrong token", domain: "acme.example", public: serve(t, "127.0.0.1:0", answer(http.StatusOK, "something else")),
			allowed: []string{"127.0.0.0/8"}, logs: "the body is not the token"},
		{name: "fail/body too long", domain: "acme.example", public: serve(t, "127.0.0.1:0", answer(http.StatusOK, challengeToken+strings.Repeat(" ", 2000))),
			allowed: []string{"127.0.0.0/8"}, logs: "longer than 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			public := closedPort(t)
			if tc.public != nil {
				public = addr(tc.public)
			}
			v, log := routedVerifier(t, hosts(public), tc.allowed...)
			if tc.timeout > 0 {
				v.HTTPClient.Timeout = tc.timeout
			}
			err := v.Verify(ctx, tc.domain, MethodHTTP, challengeToken)
			if tc.logs == "" {
				if err != nil {
					t.Fatalf("Verify = %v; log: %s", err, log)
				}
				return
			}
			wantNotFound(t, err, tc.domain)
			if !strings.Contains(log.String(), tc.logs) {
				t.Fatalf("the log does not say %q: %s", tc.logs, log)
			}
		})
	}
}

// wantNotFound checks that err is the one answer every failed HTTP
// verification gives, whatever the reason.
func wantNotFound(t *testing.T, err error, domain string) {
	t.Helper()
	want := "the verification file was not found at http://" + domain + "/.well-known/castellan-challenge/" + challengeToken +
		": publish the token there as the whole body of a 200 response, then verify again"
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Kind != failure.KindFailedPrecondition || fe.Message != want || fe.Cause != nil {
		t.Fatalf("Verify = %#v, want failed precondition %q", err, want)
	}
}

// Without routing, the production client resolves localhost itself and
// refuses its loopback addresses before connecting.
func TestVerifyHTTPRefusesLocalhost(t *testing.T) {
	v := NewVerifier()
	var log bytes.Buffer
	v.Log = slog.New(slog.NewTextHandler(&log, nil))
	err := v.Verify(ctx, "localhost", MethodHTTP, challengeToken)
	wantNotFound(t, err, "localhost")
	if !strings.Contains(log.String(), "not a public address") {
		t.Fatalf("the log does not say the address was refused: %s", log.String())
	}
}

func TestFetchable(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		allowed string
		want    bool
	}{
		{"93.184.215.14", "", true},
		{"8.8.8.8", "", true},
		{"2606:4700:4700::1111", "", true},
		{"127.0.0.1", "", false},
		{"127.255.0.9", "", false},
		{"::1", "", false},
		{"0.0.0.0", "", false},
		{"::", "", false},
		{"10.1.2.3", "", false},
		{"172.16.0.1", "", false},
		{"172.31.255.254", "", false},
		{"192.168.1.1", "", false},
		{"100.64.0.1", "", false},
		{"169.254.169.254", "", false},
		{"fe80::1", "", false},
		{"fe80::1%eth0", "", false},
		{"fc00::1", "", false},
		{"fd12:3456::1", "", false},
		{"224.0.0.1", "", false},
		{"239.255.255.250", "", false},
		{"ff02::1", "", false},
		{"255.255.255.255", "", false},
		{"::ffff:127.0.0.1", "", false},
		{"::ffff:10.0.0.1", "", false},
		{"::ffff:8.8.8.8", "", true},
		{"::127.0.0.1", "", false},
		{"64:ff9b::a00:1", "", false},
		{"2002:a00:1::1", "", false},
		{"2001:0:a00:1::1", "", false},
		{"198.18.0.1", "", false},
		{"127.0.0.1", "127.0.0.0/8", true},
		{"::ffff:127.0.0.1", "127.0.0.0/8", true},
		{"10.1.2.3", "10.1.0.0/16", true},
		{"10.2.0.1", "10.1.0.0/16", false},
		{"fd00::5", "fd00::/8", true},
	} {
		var allowed []netip.Prefix
		if tc.allowed != "" {
			allowed = append(allowed, netip.MustParsePrefix(tc.allowed))
		}
		if got := fetchable(netip.MustParseAddr(tc.addr), allowed); got != tc.want {
			t.Errorf("fetchable(%s, allowed %q) = %v, want %v", tc.addr, tc.allowed, got, tc.want)
		}
	}
}

// A redirect's Location is chosen by whoever controls the domain: the URL
// check must never admit an IP address, however it is written, nor a
// scheme other than http and https.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"http://acme.example/x", "https://acme.example:8443/x", "http://127.0.0.1/", "http://[::1]:80/", "http://[fe80::1%25eth0]/",
		"http://0x7f.0.0.1/", "http://2130706433/", "http://127.1/", "file:///etc/passwd", "gopher://acme.example/", "//acme.example/",
		"http://[::ffff:127.0.0.1]/", "http://acme.example./", "http://ACME.example/", "http://]", "http://a..b/", "http://0x7F.1/",
		"http://1.2.3.4./", "http://01234/", "http://0/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		if checkURL(&http.Request{URL: u}) != nil {
			return
		}
		host := u.Hostname()
		if u.Scheme != "http" && u.Scheme != "https" || host == "" || strings.Trim(strings.ToLower(host), "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			t.Fatalf("checkURL admitted %q", s)
		}
		labels := strings.Split(strings.TrimSuffix(host, "."), ".")
		if _, err := strconv.ParseUint(labels[len(labels)-1], 0, 64); err == nil || net.ParseIP(host) != nil {
			t.Fatalf("checkURL admitted the IP address %q of %q", host, s)
		}
	})
}
