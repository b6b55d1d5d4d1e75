package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestHalfHash(t *testing.T) {
	// OpenID Connect Core 1.0, appendix A.4: the c_hash of the example code.
	if got := HalfHash("Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"); got != "LDktKdoQak3Pk0cnXxCltA" {
		t.Fatalf("HalfHash = %s", got)
	}
	if got := HalfHash(""); len(got) != 22 || strings.ContainsAny(got, "+/=") {
		t.Fatalf("HalfHash(\"\") = %s", got)
	}
}

var idToken = IDToken{Issuer: issuer, Subject: "user-1", Audience: "client-1", Nonce: "n-0S6_WzA2Mj", AuthTime: time.Unix(1_700_000_000, 0),
	AMR: []string{"pwd", "otp"}, SessionID: "sess-1", AccessToken: "jHkWEdUXMU1BwAsC4vtUsZwnNWqbUS8Wp4EJBnpwMGM", Lifetime: time.Hour}

// verifiedClaims checks raw's signature with the published key its kid
// names and returns its header and claims.
func verifiedClaims(t *testing.T, tokens *Tokens, raw string) (jose.Header, map[string]any) {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	key, err := tokens.Keys().Key(ctx, "inst-a", tok.Headers[0].KeyID)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := tok.Claims(key.Public.Key, &got); err != nil {
		t.Fatal(err)
	}
	return tok.Headers[0], got
}

func TestIssueIDToken(t *testing.T) {
	tokens, c, _ := newTokens(t)

	t.Run("ok/an RS256 ID token with every protocol claim", func(t *testing.T) {
		raw, err := tokens.IssueIDToken(ctx, "inst-a", idToken)
		if err != nil {
			t.Fatal(err)
		}
		h, got := verifiedClaims(t, tokens, raw)
		if h.Algorithm != RS256 || h.ExtraHeaders[jose.HeaderType] != TypeJWT {
			t.Fatalf("header %+v", h)
		}
		now := float64(c.t.Unix())
		want := map[string]any{"iss": issuer, "sub": "user-1", "aud": "client-1", "azp": "client-1", "iat": now, "exp": now + 3600,
			"auth_time": float64(1_700_000_000), "nonce": "n-0S6_WzA2Mj", "amr": []any{"pwd", "otp"}, "sid": "sess-1",
			"at_hash": HalfHash(idToken.AccessToken)}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("claims %v\nwant   %v", got, want)
		}
	})
	t.Run("ok/optional claims are left out", func(t *testing.T) {
		raw, err := tokens.IssueIDToken(ctx, "inst-a", IDToken{Issuer: issuer, Subject: "user-1", Audience: "client-1", Lifetime: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		_, got := verifiedClaims(t, tokens, raw)
		for _, name := range []string{"auth_time", "nonce", "amr", "sid", "at_hash"} {
			if _, ok := got[name]; ok {
				t.Errorf("claim %s = %v; want none", name, got[name])
			}
		}
	})
	t.Run("ok/the user's claims are added and cannot replace protocol claims", func(t *testing.T) {
		in := idToken
		in.Claims = map[string]any{"sub": "admin", "iss": "https://evil.example", "aud": "evil", "azp": "evil", "exp": 99999999999, "iat": 1,
			"auth_time": 1, "nonce": "evil", "amr": []string{"hwk"}, "sid": "evil", "at_hash": "evil", "name": "Ada Lovelace"}
		before := maps.Clone(in.Claims)
		raw, err := tokens.IssueIDToken(ctx, "inst-a", in)
		if err != nil {
			t.Fatal(err)
		}
		_, got := verifiedClaims(t, tokens, raw)
		now := float64(c.t.Unix())
		if got["sub"] != "user-1" || got["iss"] != issuer || got["aud"] != "client-1" || got["azp"] != "client-1" || got["exp"] != now+3600 ||
			got["iat"] != now || got["auth_time"] != float64(1_700_000_000) || got["nonce"] != idToken.Nonce || got["sid"] != "sess-1" ||
			got["at_hash"] != HalfHash(idToken.AccessToken) || !reflect.DeepEqual(got["amr"], []any{"pwd", "otp"}) {
			t.Fatalf("claims %v", got)
		}
		if got["name"] != "Ada Lovelace" {
			t.Fatalf("the user's claim is missing: %v", got)
		}
		if !reflect.DeepEqual(in.Claims, before) {
			t.Fatalf("IssueIDToken changed the caller's claims: %v", in.Claims)
		}
	})
	t.Run("fail/the user's claims cannot add protocol claims the token does not carry", func(t *testing.T) {
		in := IDToken{Issuer: issuer, Subject: "user-1", Audience: "client-1", Lifetime: time.Minute,
			Claims: map[string]any{"auth_time": 1, "nonce": "evil", "amr": []string{"hwk"}, "sid": "evil", "at_hash": "evil"}}
		raw, err := tokens.IssueIDToken(ctx, "inst-a", in)
		if err != nil {
			t.Fatal(err)
		}
		_, got := verifiedClaims(t, tokens, raw)
		for _, name := range []string{"auth_time", "nonce", "amr", "sid", "at_hash"} {
			if v, ok := got[name]; ok {
				t.Errorf("claim %s = %v came from the user's claims", name, v)
			}
		}
	})
}

func TestVerifyIDTokenHint(t *testing.T) {
	tokens, c, _ := newTokens(t)
	raw, err := tokens.IssueIDToken(ctx, "inst-a", idToken)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ok/the hint names the user, client and session", func(t *testing.T) {
		got, err := tokens.VerifyIDTokenHint(ctx, "inst-a", issuer, raw)
		if err != nil {
			t.Fatal(err)
		}
		if got.Subject != "user-1" || len(got.Audience) != 1 || got.Audience[0] != "client-1" || got.SessionID != "sess-1" || got.Issuer != issuer {
			t.Fatalf("VerifyIDTokenHint = %+v", got)
		}
	})
	t.Run("ok/an expired ID token", func(t *testing.T) {
		saved := c.t
		defer func() { c.t = saved }()
		c.t = c.t.Add(30 * 24 * time.Hour)
		if _, err := tokens.VerifyIDTokenHint(ctx, "inst-a", issuer, raw); err != nil {
			t.Fatal(err)
		}
	})

	header, payload := decodedParts(t, raw)
	kid := header["kid"].(string)
	key, err := tokens.Keys().Key(ctx, "inst-a", kid)
	if err != nil {
		t.Fatal(err)
	}
	pubJSON, _ := key.Public.MarshalJSON()
	pubDER, _ := x509.MarshalPKIXPublicKey(key.Public.Key)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherSigner, _ := newSigner(kid, RS256, otherRSA)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecSigner, _ := newSigner(kid, ES256, otherEC)
	current, _ := tokens.Keys().Signer(ctx, "inst-a", RS256)
	realSignature := func(in []byte) []byte {
		sig, err := current.signature(in)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	access, _, err := tokens.IssueJWT(ctx, "inst-a", Access{Issuer: issuer, Subject: "user-1", ClientID: "client-1", Audience: []string{"client-1"},
		Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	otherInstance, err := tokens.IssueIDToken(ctx, "inst-b", idToken)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(s *Signer, typ string, claims any) string {
		t.Helper()
		r, err := s.Sign(typ, claims)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	with := func(changes map[string]any) map[string]any {
		m := maps.Clone(payload)
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	parts := strings.Split(raw, ".")

	for _, tc := range []struct {
		name, raw, instance, issuer string
	}{
		{"fail/an access token (typ at+jwt)", access, "inst-a", issuer},
		{"fail/alg none", forgeJWT(map[string]any{"alg": "none", "kid": kid, "typ": "JWT"}, payload, func([]byte) []byte { return nil }), "inst-a", issuer},
		{"fail/alg none without signature part", strings.TrimSuffix(forgeJWT(map[string]any{"alg": "none", "kid": kid}, payload, func([]byte) []byte { return nil }), "."),
			"inst-a", issuer},
		{"fail/HS256 with the public JWK as the secret", forgeJWT(map[string]any{"alg": "HS256", "kid": kid, "typ": "JWT"}, payload, func(in []byte) []byte {
			return hmacSHA256(pubJSON, in)
		}), "inst-a", issuer},
		{"fail/HS256 with the public key's DER as the secret", forgeJWT(map[string]any{"alg": "HS256", "kid": kid, "typ": "JWT"}, payload, func(in []byte) []byte {
			return hmacSHA256(pubDER, in)
		}), "inst-a", issuer},
		{"fail/signed by another key claiming the kid", sign(otherSigner, TypeJWT, payload), "inst-a", issuer},
		{"fail/ES256 under the kid of an RS256 key", sign(ecSigner, TypeJWT, payload), "inst-a", issuer},
		{"fail/tampered subject", parts[0] + "." + encodeJSON(with(map[string]any{"sub": "admin"})) + "." + parts[2], "inst-a", issuer},
		{"fail/a token of another instance", otherInstance, "inst-a", issuer},
		{"fail/verified for another instance", raw, "inst-b", issuer},
		{"fail/another issuer", raw, "inst-a", "https://other.example"},
		{"fail/typ of another kind", forgeJWT(map[string]any{"alg": RS256, "kid": kid, "typ": "logout+jwt"}, payload, realSignature), "inst-a", issuer},
		{"fail/typ application/at+jwt", forgeJWT(map[string]any{"alg": RS256, "kid": kid, "typ": "application/at+jwt"}, payload, realSignature), "inst-a", issuer},
		{"fail/no subject", sign(current, TypeJWT, with(map[string]any{"sub": nil})), "inst-a", issuer},
		{"fail/two audiences", sign(current, TypeJWT, with(map[string]any{"aud": []string{"client-1", "client-2"}})), "inst-a", issuer},
		{"fail/no audience", sign(current, TypeJWT, with(map[string]any{"aud": nil})), "inst-a", issuer},
		{"fail/unknown kid", sign(func() *Signer { s, _ := newSigner("nope", RS256, otherRSA); return s }(), TypeJWT, payload), "inst-a", issuer},
		{"fail/oversized", raw + strings.Repeat("A", 16<<10), "inst-a", issuer},
		{"fail/garbage", "not.a.jwt", "inst-a", issuer},
		{"fail/empty", "", "inst-a", issuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := tokens.VerifyIDTokenHint(ctx, tc.instance, tc.issuer, tc.raw); !errors.Is(err, ErrInactive) {
				t.Fatalf("VerifyIDTokenHint = %+v, %v; want ErrInactive", got, err)
			}
		})
	}
	t.Run("ok/the instance's signature under a header of its own", func(t *testing.T) {
		r := forgeJWT(map[string]any{"alg": RS256, "kid": kid, "typ": "jwt"}, payload, realSignature)
		if _, err := tokens.VerifyIDTokenHint(ctx, "inst-a", issuer, r); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ok/a token without typ signed by the instance", func(t *testing.T) {
		r := forgeJWT(map[string]any{"alg": RS256, "kid": kid}, payload, realSignature)
		if _, err := tokens.VerifyIDTokenHint(ctx, "inst-a", issuer, r); err != nil {
			t.Fatal(err)
		}
	})
}

func forgeJWT(header, claims map[string]any, sign func([]byte) []byte) string {
	input := encodeJSON(header) + "." + encodeJSON(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func encodeJSON(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodedParts(t *testing.T, raw string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}
