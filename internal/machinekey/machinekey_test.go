package machinekey

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
)

var (
	ctx = context.Background()
	now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

func machine(instance string) eventstore.Aggregate {
	return userAggregate(instance, "machine-1")
}

func userAggregate(instance, userID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instance, Type: "user", ID: userID, Owner: "org-1"}
}

func newStore(t testing.TB) *eventstoretest.Store {
	return eventstoretest.New(t, "inst-a", RegisterEvents, Migrations, Projection{})
}

func push(t testing.TB, s *eventstoretest.Store, a eventstore.Append) {
	t.Helper()
	if _, err := s.Push(ctx, eventstore.SystemEditor, a); err != nil {
		t.Fatal(err)
	}
}

func TestRegister(t *testing.T) {
	for _, k := range accepted() {
		for _, format := range []struct {
			name   string
			encode func(testing.TB, crypto.PublicKey) []byte
		}{
			{"PEM", pemOf},
			{"JWK", func(t testing.TB, pub crypto.PublicKey) []byte { return jwkOf(t, pub) }},
		} {
			t.Run("ok/"+k.name+" as "+format.name, func(t *testing.T) {
				s := newStore(t)
				s.Given(t)
				input := format.encode(t, k.key.Public())
				expires := now.Add(90 * 24 * time.Hour)
				a, key, err := Register(machine("inst-a"), input, expires, now)
				if err != nil {
					t.Fatal(err)
				}
				push(t, s, a)
				s.Then(t, &Added{KeyID: key.ID, PublicKey: key.PublicJWK, Algorithm: k.alg, ExpiresAt: expires,
					Fingerprint: rfc7638Thumbprint(t, jwkOf(t, k.key.Public()))})

				got, err := Get(ctx, s.DB(), "inst-a", key.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.UserID != "machine-1" || got.Algorithm != k.alg || !got.ExpiresAt.Equal(expires) || got.Thumbprint != key.Thumbprint {
					t.Fatalf("Get = %+v", got)
				}
				if !k.key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(got.PublicKey) {
					t.Fatalf("stored public key %T differs from the registered one", got.PublicKey)
				}
				var jwk jose.JSONWebKey
				if err := jwk.UnmarshalJSON(got.PublicJWK); err != nil || jwk.KeyID != key.ID || jwk.Algorithm != k.alg || jwk.Use != "sig" || !jwk.IsPublic() {
					t.Fatalf("stored JWK %s: %v", got.PublicJWK, err)
				}
				list, err := List(ctx, s.DB(), "inst-a", "machine-1")
				if err != nil || len(list) != 1 || list[0].ID != key.ID {
					t.Fatalf("List = %+v, %v", list, err)
				}
			})
		}
	}
}

func TestExpiry(t *testing.T) {
	pub := pemOf(t, p256().Public())
	for _, tc := range []struct {
		name    string
		expires time.Time
		ok      bool
	}{
		{"ok/in an hour", now.Add(time.Hour), true},
		{"ok/in exactly ten years", now.AddDate(10, 0, 0), true},
		{"fail/missing", time.Time{}, false},
		{"fail/in the past", now.Add(-time.Hour), false},
		{"fail/now", now, false},
		{"fail/less than a second ahead", now.Add(500 * time.Millisecond), false},
		{"fail/beyond ten years", now.AddDate(10, 0, 0).Add(time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, key, err := Register(machine("inst-a"), pub, tc.expires, now)
			_, _, private, file, genErr := Generate(machine("inst-a"), EdDSA, tc.expires, now)
			if tc.ok {
				if err != nil || genErr != nil {
					t.Fatalf("Register: %v; Generate: %v", err, genErr)
				}
				if !key.ExpiresAt.Equal(tc.expires) || key.ExpiresAt.Location() != time.UTC {
					t.Fatalf("expires at %v", key.ExpiresAt)
				}
				return
			}
			for _, err := range []error{err, genErr} {
				var fe *failure.Error
				if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != "expireTime" {
					t.Fatalf("got %v; want invalid argument on expireTime", err)
				}
			}
			if private != nil || file != nil {
				t.Fatal("Generate returned a private key with an error")
			}
		})
	}
	t.Run("ok/expiry is kept to the second in UTC", func(t *testing.T) {
		in := now.Add(time.Hour + 700*time.Millisecond).In(time.FixedZone("CET", 3600))
		_, key, err := Register(machine("inst-a"), pub, in, now)
		if err != nil || !key.ExpiresAt.Equal(now.Add(time.Hour)) || key.ExpiresAt.Location() != time.UTC {
			t.Fatalf("Register = %v, %v", key.ExpiresAt, err)
		}
	})
}

// An expired key is still found, so that an administrator sees it, but is
// not usable for signatures.
func TestExpiredKeyIsNotUsable(t *testing.T) {
	s := newStore(t)
	a, key, err := Register(machine("inst-a"), pemOf(t, p256().Public()), now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	push(t, s, a)
	got, err := Get(ctx, s.DB(), "inst-a", key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Usable(now.Add(time.Hour - time.Second)); err != nil {
		t.Fatalf("valid key not usable: %v", err)
	}
	for _, at := range []time.Time{now.Add(time.Hour), now.AddDate(1, 0, 0)} {
		if err := got.Usable(at); !failure.Is(err, failure.KindFailedPrecondition) {
			t.Fatalf("Usable(%v) = %v; want failed precondition", at, err)
		}
	}
}

func TestGenerate(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run("ok/"+alg+" key signs a JWT verified with the stored key", func(t *testing.T) {
			s := newStore(t)
			s.Given(t)
			expires := now.AddDate(1, 0, 0)
			a, key, privatePEM, file, err := Generate(machine("inst-a"), alg, expires, now)
			if err != nil {
				t.Fatal(err)
			}
			push(t, s, a)
			s.Then(t, &Added{KeyID: key.ID, PublicKey: key.PublicJWK, Algorithm: alg, ExpiresAt: expires, Fingerprint: rfc7638Thumbprint(t, key.PublicJWK)})
			events, err := s.Query(ctx, eventstore.Filter{InstanceID: "inst-a"})
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := json.Marshal(events[0].Payload)
			if strings.Contains(string(stored), `"d"`) || strings.Contains(string(stored), "PRIVATE") {
				t.Fatalf("the event holds private key material: %s", stored)
			}

			var kf struct {
				Type, KeyID, Key, UserID string
				ExpiresAt                time.Time
			}
			dec := json.NewDecoder(strings.NewReader(string(file)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&kf); err != nil {
				t.Fatal(err)
			}
			if kf.Type != "serviceaccount" || kf.KeyID != key.ID || kf.UserID != "machine-1" || kf.Key != string(privatePEM) || !kf.ExpiresAt.Equal(expires) {
				t.Fatalf("key file %s", file)
			}
			block, rest := pem.Decode([]byte(kf.Key))
			if block == nil || block.Type != "PRIVATE KEY" || len(rest) != 0 {
				t.Fatalf("private key PEM %q", kf.Key)
			}
			private, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}

			assertion := sign(t, private, alg, kf.KeyID, kf.UserID)
			tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.ES384, jose.EdDSA})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Get(ctx, s.DB(), "inst-a", tok.Headers[0].KeyID)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Headers[0].Algorithm != got.Algorithm {
				t.Fatalf("header alg %s, key alg %s", tok.Headers[0].Algorithm, got.Algorithm)
			}
			var claims jwt.Claims
			if err := tok.Claims(got.PublicKey, &claims); err != nil {
				t.Fatalf("the stored key does not verify the assertion: %v", err)
			}
			if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: got.UserID, Subject: got.UserID, AnyAudience: jwt.Audience{"https://castellan.test"}, Time: now}, 0); err != nil {
				t.Fatal(err)
			}

			// Another key of the same type, claiming the same key id, fails.
			_, _, otherPEM, _, err := Generate(machine("inst-a"), alg, expires, now)
			if err != nil {
				t.Fatal(err)
			}
			otherBlock, _ := pem.Decode(otherPEM)
			forged := sign(t, must(x509.ParsePKCS8PrivateKey(otherBlock.Bytes)), alg, kf.KeyID, kf.UserID)
			tok, err = jwt.ParseSigned(forged, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			if err := tok.Claims(got.PublicKey, &claims); err == nil {
				t.Fatal("an assertion signed by another key verified")
			}
		})
	}
	for _, alg := range []string{"", "RS384", "ES512", "PS256", "HS256", "none", "rs256"} {
		t.Run("fail/algorithm "+alg, func(t *testing.T) {
			_, _, private, _, err := Generate(machine("inst-a"), alg, now.Add(time.Hour), now)
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != "algorithm" || private != nil {
				t.Fatalf("Generate(%q) = %v; want invalid argument on algorithm", alg, err)
			}
		})
	}
}

// sign makes an RFC 7523 assertion as a machine would.
func sign(t *testing.T, private any, alg, keyID, userID string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: private},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: userID, Subject: userID, Audience: jwt.Audience{"https://castellan.test"},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRemove(t *testing.T) {
	s := newStore(t)
	a1, k1, err := Register(machine("inst-a"), pemOf(t, p256().Public()), now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	a2, k2, err := Register(machine("inst-a"), pemOf(t, ed().Public()), now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	s.Given(t, a1, a2)

	// Another user cannot remove machine-1's key through its own aggregate.
	push(t, s, Remove(userAggregate("inst-a", "machine-2"), k1.ID))
	if _, err := Get(ctx, s.DB(), "inst-a", k1.ID); err != nil {
		t.Fatalf("key removed through another user: %v", err)
	}

	s.Given(t)
	push(t, s, Remove(machine("inst-a"), k1.ID))
	s.Then(t, &Removed{KeyID: k1.ID})
	if _, err := Get(ctx, s.DB(), "inst-a", k1.ID); !failure.Is(err, failure.KindNotFound) {
		t.Fatalf("Get of a removed key = %v; want not found", err)
	}
	list, err := List(ctx, s.DB(), "inst-a", "machine-1")
	if err != nil || len(list) != 1 || list[0].ID != k2.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}

	for _, tc := range []struct{ name, instance, keyID string }{
		{"fail/unknown key", "inst-a", "no-such-key"},
		{"fail/key of another instance", "inst-b", k2.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Get(ctx, s.DB(), tc.instance, tc.keyID); !failure.Is(err, failure.KindNotFound) {
				t.Fatalf("Get = %v; want not found", err)
			}
		})
	}
}

func TestDuplicateKeys(t *testing.T) {
	s := newStore(t)
	pub := p384().Public()
	first, key, err := Register(machine("inst-a"), pemOf(t, pub), now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	s.Given(t, first)

	for _, tc := range []struct {
		name  string
		user  eventstore.Aggregate
		input []byte
	}{
		{"fail/same PEM for the same user", machine("inst-a"), pemOf(t, pub)},
		{"fail/same key as a JWK for the same user", machine("inst-a"), jwkOf(t, pub)},
		{"fail/same key for another user", userAggregate("inst-a", "machine-2"), pemOf(t, pub)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, err := Register(tc.user, tc.input, now.Add(2*time.Hour), now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Push(ctx, eventstore.SystemEditor, a)
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindAlreadyExists || fe.Field != "publicKey" {
				t.Fatalf("Push = %v; want already exists on publicKey", err)
			}
			s.Then(t)
		})
	}

	t.Run("ok/same key in another instance", func(t *testing.T) {
		a, _, err := Register(machine("inst-b"), pemOf(t, pub), now.Add(time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		push(t, s, a)
	})

	t.Run("fail/a removed key cannot come back", func(t *testing.T) {
		push(t, s, Remove(machine("inst-a"), key.ID))
		a, _, err := Register(machine("inst-a"), pemOf(t, pub), now.Add(time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Push(ctx, eventstore.SystemEditor, a); !failure.Is(err, failure.KindAlreadyExists) {
			t.Fatalf("Push = %v; want already exists", err)
		}
	})
}

func TestRebuildEqualsInline(t *testing.T) {
	s := newStore(t)
	var appends []eventstore.Append
	for i, k := range accepted() {
		a, _, err := Register(userAggregate("inst-a", []string{"m1", "m2"}[i%2]), jwkOf(t, k.key.Public()), now.Add(time.Hour), now)
		if err != nil {
			t.Fatal(err)
		}
		appends = append(appends, a)
	}
	s.Given(t, appends...)
	push(t, s, Remove(userAggregate("inst-a", "m1"), appends[0].Events[0].(*Added).KeyID))
	read := func() [][]Key {
		var all [][]Key
		for _, u := range []string{"m1", "m2"} {
			keys, err := List(ctx, s.DB(), "inst-a", u)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, keys)
		}
		return all
	}
	before := read()
	if n, err := s.Rebuild(ctx, "machine_keys"); err != nil || n != len(appends)+1 {
		t.Fatalf("Rebuild = %d, %v", n, err)
	}
	after := read()
	if len(before[0]) != 1 || len(before[1]) != 2 {
		t.Fatalf("keys before rebuild: %+v", before)
	}
	for i := range before {
		if !slices.EqualFunc(before[i], after[i], func(a, b Key) bool {
			return a.ID == b.ID && a.Thumbprint == b.Thumbprint && a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
		}) {
			t.Fatalf("rebuilt keys differ:\n%+v\n%+v", before[i], after[i])
		}
	}
}
