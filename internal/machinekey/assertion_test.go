package machinekey

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	issuer   = "https://login.example"
	endpoint = "https://login.example/oauth/v2/token"
)

// assertionFixture is a store with one ES256 key of machine-1.
type assertionFixture struct {
	a       *Assertions
	key     Key
	private crypto.Signer
	clock   time.Time
}

func newAssertionFixture(t testing.TB) *assertionFixture {
	s := newStore(t)
	add, key, privatePEM, _, err := Generate(machine("inst-a"), ES256, now.Add(24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	push(t, s, add)
	block, _ := pem.Decode(privatePEM)
	private, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	f := &assertionFixture{key: key, private: private.(crypto.Signer), clock: now}
	f.a = NewAssertions(s.DB(), func() time.Time { return f.clock })
	return f
}

func (f *assertionFixture) sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c jwt.Claims) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func validClaims(jti string) jwt.Claims {
	return jwt.Claims{Issuer: "machine-1", Subject: "machine-1", Audience: jwt.Audience{endpoint}, ID: jti,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
}

func TestVerifyAssertion(t *testing.T) {
	f := newAssertionFixture(t)
	good := func(edit func(*jwt.Claims)) string {
		c := validClaims(strings.Repeat("j", 10) + time.Now().Format(time.RFC3339Nano))
		if edit != nil {
			edit(&c)
		}
		return f.sign(t, jose.ES256, f.private, f.key.ID, c)
	}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+f.key.ID+`"}`)) + "." +
		func() string {
			b, _ := json.Marshal(validClaims("none"))
			return base64.RawURLEncoding.EncodeToString(b)
		}() + "."
	replayed := good(nil)
	if k, err := f.a.Verify(ctx, "inst-a", replayed, []string{issuer, endpoint}); err != nil || k.UserID != "machine-1" {
		t.Fatalf("Verify = %+v, %v", k, err)
	}
	for _, tc := range []struct {
		name, raw string
		ok        bool
	}{
		{"ok/aud the issuer", good(func(c *jwt.Claims) { c.Audience = jwt.Audience{issuer} }), true},
		{"ok/exp an hour ahead", good(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(time.Hour)) }), true},
		{"ok/expired within the leeway", good(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-10 * time.Second)) }), true},
		{"fail/replayed", replayed, false},
		{"fail/expired", good(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) }), false},
		{"fail/no exp", good(func(c *jwt.Claims) { c.Expiry = nil }), false},
		{"fail/exp over an hour ahead", good(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(time.Hour + time.Minute)) }), false},
		{"fail/another audience", good(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other.example"} }), false},
		{"fail/no jti", good(func(c *jwt.Claims) { c.ID = "" }), false},
		{"fail/a jti over 200 bytes", good(func(c *jwt.Claims) { c.ID = strings.Repeat("j", 201) }), false},
		{"fail/iss another user", good(func(c *jwt.Claims) { c.Issuer = "machine-2" }), false},
		{"fail/sub another user", good(func(c *jwt.Claims) { c.Subject = "machine-2" }), false},
		{"fail/nbf in the future", good(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) }), false},
		{"fail/iat in the future", good(func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute)) }), false},
		{"fail/no kid", f.sign(t, jose.ES256, f.private, "", validClaims("nokid")), false},
		{"fail/an unknown kid", f.sign(t, jose.ES256, f.private, "other", validClaims("other")), false},
		{"fail/alg none", none, false},
		{"fail/HS256 with the public JWK", f.sign(t, jose.HS256, []byte(f.key.PublicJWK), f.key.ID, validClaims("hs")), false},
		{"fail/not a JWT", "a.b.c", false},
		{"fail/too long", strings.Repeat("a", 9000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.a.Verify(ctx, "inst-a", tc.raw, []string{issuer, endpoint})
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidAssertion) {
				t.Fatalf("Verify = %v; want ok %v", err, tc.ok)
			}
		})
	}
	t.Run("fail/the key expired", func(t *testing.T) {
		f.clock = now.Add(25 * time.Hour)
		defer func() { f.clock = now }()
		c := validClaims("late")
		c.Expiry = jwt.NewNumericDate(f.clock.Add(time.Minute))
		if _, err := f.a.Verify(ctx, "inst-a", f.sign(t, jose.ES256, f.private, f.key.ID, c), []string{endpoint}); !errors.Is(err, ErrInvalidAssertion) {
			t.Fatalf("Verify = %v", err)
		}
	})
	t.Run("fail/another instance", func(t *testing.T) {
		if _, err := f.a.Verify(ctx, "inst-b", good(nil), []string{endpoint}); !errors.Is(err, ErrInvalidAssertion) {
			t.Fatalf("Verify = %v", err)
		}
	})
	t.Run("ok/sweep forgets expired jti only", func(t *testing.T) {
		if err := SweepAssertions(ctx, f.a.db, now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzVerifyAssertion: an assertion is untrusted input; whatever it is,
// Verify does not panic and refuses it with ErrInvalidAssertion (the
// fuzzer cannot sign with the key).
func FuzzVerifyAssertion(f *testing.F) {
	fx := newAssertionFixture(f)
	seed := fx.sign(f, jose.ES256, fx.private, fx.key.ID, validClaims("seed"))
	f.Add(seed)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := fx.a.Verify(ctx, "inst-a", raw, []string{endpoint}); err == nil {
			if raw == seed {
				return // the one valid assertion, the first time
			}
			t.Fatalf("accepted %q", raw)
		} else if !errors.Is(err, ErrInvalidAssertion) {
			t.Fatalf("Verify(%q) = %v", raw, err)
		}
	})
}

// An assertion presented many times at once is accepted once.
func TestVerifyAssertionConcurrentReplay(t *testing.T) {
	f := newAssertionFixture(t)
	raw := f.sign(t, jose.ES256, f.private, f.key.ID, validClaims("race"))
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := f.a.Verify(ctx, "inst-a", raw, []string{endpoint})
			errs <- err
		}()
	}
	ok := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrInvalidAssertion):
			t.Fatalf("Verify = %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent presentations were accepted; want 1", ok, n)
	}
}
