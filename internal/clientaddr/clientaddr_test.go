package clientaddr

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	v := Resolver{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, c := range []struct {
		name, peer string
		header     http.Header
		want       string
	}{
		{"direct client", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"untrusted peer's header is ignored", "203.0.113.7:5555", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.7"},
		{"trusted proxy", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"spoofed entries left of the client", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"1.2.3.4, 198.51.100.1"}}, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"198.51.100.1, 10.9.9.9", "10.8.8.8"}}, "198.51.100.1"},
		{"garbage stops at the last known", "10.1.2.3:443", http.Header{"X-Forwarded-For": {"x<script>, 10.9.9.9"}}, "10.9.9.9"},
		{"Forwarded wins", "[::1]:443", http.Header{"Forwarded": {`for="[2001:db8::1]:4711";proto=https`}, "X-Forwarded-For": {"1.2.3.4"}}, "2001:db8::1"},
		{"Forwarded for unknown", "[::1]:443", http.Header{"Forwarded": {"for=unknown"}}, "::1"},
		{"mapped IPv4 is unmapped", "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},
		{"trusted proxy without header", "10.1.2.3:443", nil, "10.1.2.3"},
	} {
		r := &http.Request{RemoteAddr: c.peer, Header: c.header}
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if got := v.Resolve(r); got.String() != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestMiddlewareAndOf(t *testing.T) {
	var got netip.Addr
	h := Resolver{}.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = Of(r) }))
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.5:1"
	r.Header.Set("X-Forwarded-For", "1.1.1.1")
	h.ServeHTTP(nil, r)
	if got.String() != "192.0.2.5" {
		t.Fatalf("got %s", got)
	}
	if From(context.Background()).IsValid() {
		t.Fatal("empty context carries an address")
	}
}

func TestManyHopsAreBounded(t *testing.T) {
	v := Resolver{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	r := &http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{"X-Forwarded-For": {strings.Repeat("10.0.0.2, ", 10000) + "10.0.0.3"}}}
	if got := v.Resolve(r); !got.IsValid() {
		t.Fatal("no address")
	}
}

func FuzzResolve(f *testing.F) {
	f.Add("10.0.0.1:1", "1.2.3.4, 10.0.0.2", `for="[2001:db8::1]:80"`)
	f.Add("[::1]:1", "", "for=unknown;by=x, for=1.2.3.4")
	f.Fuzz(func(t *testing.T, peerAddr, xff, fwd string) {
		v := Resolver{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		a := v.Resolve(&http.Request{RemoteAddr: peerAddr, Header: h})
		if a.IsValid() && (a.Zone() != "" || a.Is4In6()) {
			t.Fatalf("address %s not canonical", a)
		}
	})
}
