package instance

import (
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":        "example.com",
		"example.com:8080":   "example.com",
		"example.com.":       "example.com",
		"[::1]:8080":         "::1",
		" login.acme.test  ": "login.acme.test",
		"evil.test/x":        "",
		"0 .":                "",
	} {
		if got := NormalizeDomain(in); got != want {
			t.Errorf("NormalizeDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// The Host header is untrusted input.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"example.com:80", "[::1]:1", "A.B.", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		got := NormalizeDomain(host)
		if strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789.-:") != "" {
			t.Fatalf("NormalizeDomain(%q) = %q has characters outside a host name", host, got)
		}
		if again := NormalizeDomain(got); again != got {
			t.Fatalf("NormalizeDomain is not idempotent on %q: %q then %q", host, got, again)
		}
	})
}

func TestIssuer(t *testing.T) {
	for _, tc := range []struct{ domain, external, want string }{
		{"login.example.com", "https://login.example.com", "https://login.example.com"},
		{"id.customer.example", "https://login.example.com", "https://id.customer.example"},
		{"localhost", "http://localhost:8080", "http://localhost:8080"},
		{"b.localhost", "http://localhost:8080/", "http://b.localhost:8080"},
		{"id.customer.example", "https://login.example.com:443", "https://id.customer.example"},
		{"::1", "http://[::1]:8080", "http://[::1]:8080"},
	} {
		if got := (Instance{PrimaryDomain: tc.domain}).Issuer(tc.external); got != tc.want {
			t.Errorf("Issuer(%s, %s) = %s, want %s", tc.domain, tc.external, got, tc.want)
		}
	}
}
