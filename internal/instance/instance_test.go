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
