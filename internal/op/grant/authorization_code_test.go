package grant

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
)

// The verifier and challenge of RFC 7636 appendix B.
const (
	rfcVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfcChallenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
)

const redirectURI = "https://app.example/cb?tenant=acme"

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestCheckCode(t *testing.T) {
	if s256(rfcVerifier) != rfcChallenge {
		t.Fatal("the RFC 7636 example does not hold")
	}
	unreserved := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	v42, v43, v128, v129 := strings.Repeat("a", 42), strings.Repeat("a", 43), strings.Repeat(unreserved, 2)[:128], strings.Repeat("a", 129)
	for _, tc := range []struct {
		name                string
		challenge, verifier string
		redirect            string
		ok                  bool
	}{
		{"ok/the RFC 7636 example", rfcChallenge, rfcVerifier, redirectURI, true},
		{"ok/a verifier of 43 characters", s256(v43), v43, redirectURI, true},
		{"ok/a verifier of 128 characters, every unreserved character", s256(v128), v128, redirectURI, true},
		{"ok/no PKCE on either side", "", "", redirectURI, true},
		{"fail/a verifier of 42 characters", s256(v42), v42, redirectURI, false},
		{"fail/a verifier of 129 characters", s256(v129), v129, redirectURI, false},
		{"fail/a verifier with +", s256(v43[:42] + "+"), v43[:42] + "+", redirectURI, false},
		{"fail/a verifier with /", s256(v43[:42] + "/"), v43[:42] + "/", redirectURI, false},
		{"fail/a verifier with =", s256(v43[:42] + "="), v43[:42] + "=", redirectURI, false},
		{"fail/a verifier with a space", s256(v43[:42] + " "), v43[:42] + " ", redirectURI, false},
		{"fail/a verifier with a newline at the end", s256(v43 + "\n"), v43 + "\n", redirectURI, false},
		{"fail/a verifier with a non-ASCII letter", s256(v43[:41] + "é"), v43[:41] + "é", redirectURI, false},
		{"fail/a verifier with a NUL", s256(v43[:42] + "\x00"), v43[:42] + "\x00", redirectURI, false},
		{"fail/the wrong verifier", rfcChallenge, v43, redirectURI, false},
		{"fail/the verifier one character off", rfcChallenge, rfcVerifier[:42] + "j", redirectURI, false},
		{"fail/the challenge sent as the verifier (plain)", rfcChallenge, rfcChallenge, redirectURI, false},
		{"fail/no verifier for a challenge", rfcChallenge, "", redirectURI, false},
		{"fail/a verifier without a challenge", "", rfcVerifier, redirectURI, false},
		{"fail/another redirect URI", rfcChallenge, rfcVerifier, "https://evil.example/cb?tenant=acme", false},
		{"fail/no redirect URI", rfcChallenge, rfcVerifier, "", false},
		{"fail/the redirect URI without its query", rfcChallenge, rfcVerifier, "https://app.example/cb", false},
		{"fail/the redirect URI with a trailing slash", rfcChallenge, rfcVerifier, "https://app.example/cb/?tenant=acme", false},
		{"fail/the redirect URI in another case", rfcChallenge, rfcVerifier, "https://APP.example/cb?tenant=acme", false},
		{"fail/the redirect URI escaped", rfcChallenge, rfcVerifier, "https://app.example/cb?tenant=%61cme", false},
		{"fail/another redirect URI without PKCE", "", "", "https://evil.example/cb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCode(tc.redirect, tc.verifier)(authreq.Request{RedirectURI: redirectURI, CodeChallenge: tc.challenge})
			if tc.ok {
				if err != nil {
					t.Fatalf("checkCode = %v", err)
				}
				return
			}
			if e := oauth.AsError(err); e == nil || e.Code != oauth.InvalidGrant {
				t.Fatalf("checkCode = %v; want invalid_grant", err)
			}
		})
	}
}

// FuzzCheckCode: checkCode never panics, and it accepts only the
// request's redirect URI with a well-formed verifier whose S256 is the
// challenge (or no verifier when there is no challenge).
func FuzzCheckCode(f *testing.F) {
	f.Add(redirectURI, rfcVerifier, rfcVerifier, true)
	f.Add(redirectURI, rfcVerifier, rfcVerifier+"x", true)
	f.Add(redirectURI, "", "", false)
	f.Add("https://evil.example/", rfcVerifier, rfcVerifier, true)
	f.Add(redirectURI, strings.Repeat("~", 128), strings.Repeat("~", 128), true)
	f.Add(redirectURI, strings.Repeat("a", 42), strings.Repeat("a", 42), true)
	f.Add(redirectURI, "", rfcVerifier, false)
	f.Fuzz(func(t *testing.T, redirect, verifier, challengeOf string, withChallenge bool) {
		challenge := ""
		if withChallenge {
			challenge = s256(challengeOf)
		}
		err := checkCode(redirect, verifier)(authreq.Request{RedirectURI: redirectURI, CodeChallenge: challenge})
		if err != nil {
			if e := oauth.AsError(err); e == nil || e.Code != oauth.InvalidGrant {
				t.Fatalf("checkCode = %v; want invalid_grant", err)
			}
			return
		}
		if redirect != redirectURI {
			t.Fatalf("accepted redirect URI %q", redirect)
		}
		if !withChallenge {
			if verifier != "" {
				t.Fatalf("accepted verifier %q without a challenge", verifier)
			}
			return
		}
		if s256(verifier) != challenge || len(verifier) < 43 || len(verifier) > 128 {
			t.Fatalf("accepted verifier %q for the challenge of %q", verifier, challengeOf)
		}
		for _, c := range verifier {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", c) {
				t.Fatalf("accepted verifier %q with %q", verifier, c)
			}
		}
	})
}
