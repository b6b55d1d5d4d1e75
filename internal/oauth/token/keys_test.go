package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
)

var ctx = context.Background()

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTokens(t *testing.T) (*Tokens, *clock, *eventstoretest.Store) {
	t.Helper()
	c := &clock{t: time.Now().Truncate(time.Second)}
	s := eventstoretest.NewWithOptions(t, "inst-a", RegisterEvents, Migrations, eventstore.Options{Now: c.now}, KeyProjection{}, RevocationProjection{})
	key, err := keyring.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return NewTokens(s.Store, NewKeys(s.Store, ring, c.now), c.now), c, s
}

func states(t *testing.T, k *Keys, alg string) (current, next string, retired []string) {
	t.Helper()
	keys, err := k.List(ctx, "inst-a")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range keys {
		if w.Algorithm != alg {
			continue
		}
		switch w.State {
		case StateCurrent:
			current = w.ID
		case StateNext:
			next = w.ID
		default:
			retired = append(retired, w.ID)
		}
	}
	return
}

func TestKeysAreCreatedAtFirstUseWithANextKey(t *testing.T) {
	tokens, _, s := newTokens(t)
	for _, alg := range Algorithms {
		signer, err := tokens.Keys().Signer(ctx, "inst-a", alg)
		if err != nil {
			t.Fatal(err)
		}
		current, next, retired := states(t, tokens.Keys(), alg)
		if signer.KeyID != current || next == "" || next == current || len(retired) != 0 {
			t.Fatalf("%s: signer %s, current %s, next %s, retired %v", alg, signer.KeyID, current, next, retired)
		}
	}
	events, err := s.Query(ctx, eventstore.Filter{InstanceID: "inst-a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if a, ok := e.Payload.(*KeyAdded); ok {
			raw, _ := json.Marshal(a)
			if strings.Contains(string(raw), `"d":`) || strings.Contains(string(raw), "PRIVATE") {
				t.Fatalf("an event holds an unsealed private key: %s", raw)
			}
			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(a.PublicKey); err != nil || !jwk.IsPublic() || jwk.Use != "sig" || jwk.Algorithm != a.Algorithm {
				t.Fatalf("public key %s: %v", a.PublicKey, err)
			}
		}
	}
	// Another store over the same database sees the same keys.
	again, err := NewKeys(s.Store, tokens.keys.ring, nil).Signer(ctx, "inst-a", ES256)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := tokens.Keys().Signer(ctx, "inst-a", ES256)
	if again.KeyID != first.KeyID {
		t.Fatalf("two key managers disagree on the current key: %s and %s", again.KeyID, first.KeyID)
	}
}

func TestRotate(t *testing.T) {
	tokens, c, _ := newTokens(t)
	k := tokens.Keys()
	if _, err := k.Signer(ctx, "inst-a", ES256); err != nil {
		t.Fatal(err)
	}
	current, next, _ := states(t, k, ES256)

	t.Run("fail/the next key was published less than the key set's max-age ago", func(t *testing.T) {
		c.t = c.t.Add(KeySetMaxAge - time.Second)
		if err := k.Rotate(ctx, eventstore.SystemEditor, "inst-a", ES256, time.Hour); !failure.Is(err, failure.KindFailedPrecondition) {
			t.Fatalf("Rotate = %v; want failed precondition", err)
		}
	})
	t.Run("ok/next becomes current, current retires, a new next is published", func(t *testing.T) {
		c.t = c.t.Add(time.Second)
		if err := k.Rotate(ctx, eventstore.SystemEditor, "inst-a", ES256, time.Hour); err != nil {
			t.Fatal(err)
		}
		cur2, next2, retired := states(t, k, ES256)
		if cur2 != next || next2 == "" || next2 == next || len(retired) != 1 || retired[0] != current {
			t.Fatalf("after rotation: current %s (want %s), next %s, retired %v (want %s)", cur2, next, next2, retired, current)
		}
		signer, err := k.Signer(ctx, "inst-a", ES256)
		if err != nil || signer.KeyID != next {
			t.Fatalf("signs with %v, %v; want %s", signer, err, next)
		}
	})
	t.Run("ok/a key retired longer than kept is removed at the next rotation", func(t *testing.T) {
		c.t = c.t.Add(time.Hour + KeySetMaxAge)
		if err := k.Rotate(ctx, eventstore.SystemEditor, "inst-a", ES256, time.Hour); err != nil {
			t.Fatal(err)
		}
		_, _, retired := states(t, k, ES256)
		if len(retired) != 1 || retired[0] != next {
			t.Fatalf("retired %v; want only %s", retired, next)
		}
		if _, err := k.Key(ctx, "inst-a", current); !failure.Is(err, failure.KindNotFound) {
			t.Fatalf("the removed key is still published: %v", err)
		}
	})
	t.Run("fail/unknown algorithm", func(t *testing.T) {
		if err := k.Rotate(ctx, eventstore.SystemEditor, "inst-a", "HS256", time.Hour); !failure.Is(err, failure.KindInvalidArgument) {
			t.Fatalf("Rotate(HS256) = %v", err)
		}
	})
}

const issuer = "https://inst-a.example"

func issue(t *testing.T, tokens *Tokens) (string, AccessClaims) {
	t.Helper()
	raw, claims, err := tokens.IssueJWT(ctx, "inst-a", Access{Issuer: issuer, Subject: "client-1", ClientID: "client-1",
		Audience: []string{"project-1"}, Scopes: []string{"read", "write"}, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return raw, claims
}

func TestAccessTokens(t *testing.T) {
	tokens, c, s := newTokens(t)
	raw, claims := issue(t, tokens)

	t.Run("ok/an RFC 9068 token that go-jose verifies with the published key", func(t *testing.T) {
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		if typ := tok.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
			t.Fatalf("typ %v", typ)
		}
		key, err := tokens.Keys().Key(ctx, "inst-a", tok.Headers[0].KeyID)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := tok.Claims(key.Public.Key, &got); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
			if _, ok := got[name]; !ok {
				t.Errorf("claim %s missing: %v", name, got)
			}
		}
		if got["scope"] != "read write" || got["exp"].(float64)-got["iat"].(float64) != 3600 {
			t.Fatalf("claims %v", got)
		}
		v, err := tokens.VerifyJWT(ctx, "inst-a", issuer, raw)
		if err != nil || v.ID != claims.ID || v.Subject != "client-1" {
			t.Fatalf("VerifyJWT = %+v, %v", v, err)
		}
	})

	forge := func(header map[string]any, claims any, sign func([]byte) []byte) string {
		h, _ := json.Marshal(header)
		p, _ := json.Marshal(claims)
		input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
		return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
	}
	kid := strings.Split(raw, ".")[0]
	hdr, _ := base64.RawURLEncoding.DecodeString(kid)
	var header map[string]any
	_ = json.Unmarshal(hdr, &header)
	parts := strings.Split(raw, ".")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSigner, _ := newSigner(header["kid"].(string), ES256, other)
	forged, _ := otherSigner.Sign(TypeAccessToken, claims)
	key, _ := tokens.Keys().Key(ctx, "inst-a", header["kid"].(string))
	pubJSON, _ := key.Public.MarshalJSON()

	for _, tc := range []struct{ name, raw string }{
		{"fail/alg none", forge(map[string]any{"alg": "none", "kid": header["kid"], "typ": "at+jwt"}, claims, func([]byte) []byte { return nil })},
		{"fail/HS256 with the public key as the secret", forge(map[string]any{"alg": "HS256", "kid": header["kid"], "typ": "at+jwt"}, claims, func(in []byte) []byte {
			return hmacSHA256(pubJSON, in)
		})},
		{"fail/signed by another key claiming the kid", forged},
		{"fail/tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`)) + "." + parts[2]},
		{"fail/typ JWT (an ID token is not an access token)", func() string {
			signer, _ := tokens.Keys().Signer(ctx, "inst-a", ES256)
			r, _ := signer.Sign(TypeJWT, claims)
			return r
		}()},
		{"fail/garbage", "not.a.jwt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tokens.VerifyJWT(ctx, "inst-a", issuer, tc.raw); !errors.Is(err, ErrInactive) {
				t.Fatalf("VerifyJWT = %v; want inactive", err)
			}
		})
	}
	t.Run("fail/another issuer", func(t *testing.T) {
		if _, err := tokens.VerifyJWT(ctx, "inst-a", "https://other.example", raw); !errors.Is(err, ErrInactive) {
			t.Fatal(err)
		}
	})
	t.Run("fail/a token of another instance", func(t *testing.T) {
		if _, err := tokens.VerifyJWT(ctx, "inst-b", issuer, raw); !errors.Is(err, ErrInactive) {
			t.Fatal(err)
		}
	})
	t.Run("ok/revoked is inactive until it expires, and revoking twice appends once", func(t *testing.T) {
		s.Given(t)
		for range 2 {
			if err := tokens.Revoke(ctx, eventstore.Editor{ClientID: "client-1"}, "inst-a", "org-1", claims); err != nil {
				t.Fatal(err)
			}
		}
		s.Then(t, &Revoked{TokenID: claims.ID, ClientID: "client-1", ExpiresAt: claims.Expiry})
		if _, err := tokens.VerifyJWT(ctx, "inst-a", issuer, raw); !errors.Is(err, ErrInactive) {
			t.Fatalf("a revoked token verified: %v", err)
		}
		// A later revocation, after the first token expired, drops its row.
		c.t = c.t.Add(2 * time.Hour)
		_, later := issue(t, tokens)
		if err := tokens.Revoke(ctx, eventstore.Editor{ClientID: "client-1"}, "inst-a", "org-1", later); err != nil {
			t.Fatal(err)
		}
		if revoked, err := tokens.Revoked(ctx, "inst-a", claims.ID); err != nil || revoked {
			t.Fatalf("the expired token's row is kept: %v %v", revoked, err)
		}
	})
	t.Run("fail/expired", func(t *testing.T) {
		c.t = c.t.Add(2 * time.Hour)
		r, _ := issue(t, tokens)
		c.t = c.t.Add(time.Hour)
		if _, err := tokens.VerifyJWT(ctx, "inst-a", issuer, r); !errors.Is(err, ErrInactive) {
			t.Fatal(err)
		}
	})
}

func TestRotateDue(t *testing.T) {
	tokens, c, _ := newTokens(t)
	k := tokens.Keys()
	if _, err := k.PublicKeys(ctx, "inst-a"); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(KeyLifetime - time.Hour)
	if rotated, err := k.RotateDue(ctx, eventstore.SystemEditor, "inst-a", KeyLifetime, RetiredKept); err != nil || len(rotated) != 0 {
		t.Fatalf("before the lifetime: %v %v", rotated, err)
	}
	current, next, _ := states(t, k, ES256)
	c.t = c.t.Add(time.Hour)
	rotated, err := k.RotateDue(ctx, eventstore.SystemEditor, "inst-a", KeyLifetime, RetiredKept)
	if err != nil || len(rotated) != len(PublishedAtFirstUse) {
		t.Fatalf("at the lifetime: %v %v, want every algorithm", rotated, err)
	}
	cur2, _, retired := states(t, k, ES256)
	if cur2 != next || len(retired) != 1 || retired[0] != current {
		t.Fatalf("after: current %s (want %s), retired %v", cur2, next, retired)
	}
	// The keys just activated are not due again.
	if rotated, err := k.RotateDue(ctx, eventstore.SystemEditor, "inst-a", KeyLifetime, RetiredKept); err != nil || len(rotated) != 0 {
		t.Fatalf("right after: %v %v", rotated, err)
	}
}
