package client

import (
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/oauth"
)

func TestCheckFAPI(t *testing.T) {
	ok := ApplicationSpec{Kind: KindOIDC, AuthMethod: oauth.AuthPrivateKeyJWT, IDTokenAlg: "ES256"}
	for _, tc := range []struct {
		name   string
		change func(*ApplicationSpec)
		says   string // "" for allowed
	}{
		{"ok/private_key_jwt with ES256", func(*ApplicationSpec) {}, ""},
		{"ok/tls_client_auth with EdDSA", func(s *ApplicationSpec) { s.AuthMethod, s.IDTokenAlg = oauth.AuthTLSClientAuth, "EdDSA" }, ""},
		{"ok/self_signed_tls_client_auth", func(s *ApplicationSpec) { s.AuthMethod = oauth.AuthSelfSignedTLSClientAuth }, ""},
		{"fail/a secret", func(s *ApplicationSpec) { s.AuthMethod = oauth.AuthClientSecretBasic }, "client_secret_basic/client_secret_post"},
		{"fail/a public client", func(s *ApplicationSpec) { s.Public, s.AuthMethod = true, oauth.AuthNone }, "confidential clients only"},
		{"fail/an API application", func(s *ApplicationSpec) { s.Kind = KindAPI }, "not to an API application"},
		{"fail/RS256 ID tokens", func(s *ApplicationSpec) { s.IDTokenAlg = "RS256" }, "ES256 or EdDSA, not RS256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.change(&spec)
			if got := checkFAPI(spec); tc.says == "" && got != "" || tc.says != "" && !strings.Contains(got, tc.says) {
				t.Fatalf("got %q, want %q", got, tc.says)
			}
		})
	}
}

func TestFAPIAssertion(t *testing.T) {
	audiences := []string{"https://id.example", "https://id.example/oauth/v2/token"}
	for _, tc := range []struct {
		name, alg string
		aud       []string
		says      string
	}{
		{"ok/ES256 for the issuer", "ES256", []string{"https://id.example"}, ""},
		{"ok/PS256", "PS256", []string{"https://id.example"}, ""},
		{"ok/EdDSA", "EdDSA", []string{"https://id.example"}, ""},
		{"fail/RS256", "RS256", []string{"https://id.example"}, "only PS256, ES256 and EdDSA"},
		{"fail/ES384", "ES384", []string{"https://id.example"}, "only PS256, ES256 and EdDSA"},
		{"fail/the endpoint", "ES256", []string{"https://id.example/oauth/v2/token"}, "issuer identifier alone"},
		{"fail/the issuer and another", "ES256", []string{"https://id.example", "https://rs.example"}, "issuer identifier alone"},
		{"fail/no audience", "ES256", nil, "issuer identifier alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fapiAssertion(tc.alg, tc.aud, audiences); tc.says == "" && got != "" || tc.says != "" && !strings.Contains(got, tc.says) {
				t.Fatalf("got %q, want %q", got, tc.says)
			}
		})
	}
}
