package logout

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/keyring"
)

func newRing(t testing.TB) *keyring.Ring {
	t.Helper()
	key, err := keyring.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

var (
	now     = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	request = Request{ClientID: "client-1", RedirectURI: "https://app.example/bye?x=1", State: "s&t", SessionID: "sess-1"}
)

func seal(t testing.TB, ring *keyring.Ring, instanceID string) string {
	t.Helper()
	v, err := Seal(ring, instanceID, request, now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSealOpen(t *testing.T) {
	ring := newRing(t)
	sealed := seal(t, ring, "inst-a")

	t.Run("ok/round trip, URL-safe, expiring after Lifetime", func(t *testing.T) {
		if strings.ContainsAny(sealed, "+/=%&?# ") {
			t.Fatalf("sealed %q is not URL-safe", sealed)
		}
		for _, at := range []time.Time{now, now.Add(Lifetime)} {
			got, err := Open(ring, "inst-a", sealed, at)
			if err != nil {
				t.Fatalf("Open at %v: %v", at, err)
			}
			want := request
			want.Expires = now.Add(Lifetime).Unix()
			if got != want {
				t.Fatalf("Open = %+v; want %+v", got, want)
			}
		}
	})
	t.Run("ok/a request without client or redirect", func(t *testing.T) {
		v, err := Seal(ring, "inst-a", Request{}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Open(ring, "inst-a", v, now); err != nil || got.ClientID != "" || got.RedirectURI != "" {
			t.Fatalf("Open = %+v, %v", got, err)
		}
	})
	t.Run("ok/sealing twice gives different values", func(t *testing.T) {
		if seal(t, ring, "inst-a") == sealed {
			t.Fatal("the nonce repeats")
		}
	})
	t.Run("ok/the caller's Expires is ignored", func(t *testing.T) {
		r := request
		r.Expires = now.Add(100 * 365 * 24 * time.Hour).Unix()
		v, err := Seal(ring, "inst-a", r, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ring, "inst-a", v, now.Add(Lifetime+time.Second)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Open = %v", err)
		}
	})

	raw, _ := base64.RawURLEncoding.DecodeString(sealed)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	other := seal(t, newRing(t), "inst-a")
	for _, tc := range []struct {
		name, instance, value string
		at                    time.Time
	}{
		{"fail/expired", "inst-a", sealed, now.Add(Lifetime + time.Second)},
		{"fail/another instance's value", "inst-b", sealed, now},
		{"fail/sealed with another key", "inst-a", other, now},
		{"fail/first byte flipped", "inst-a", flip(0), now},
		{"fail/middle byte flipped", "inst-a", flip(len(raw) / 2), now},
		{"fail/last byte flipped", "inst-a", flip(len(raw) - 1), now},
		{"fail/truncated", "inst-a", sealed[:len(sealed)-4], now},
		{"fail/extended", "inst-a", sealed + "AAAA", now},
		{"fail/padded base64", "inst-a", base64.URLEncoding.EncodeToString(raw) + "==", now},
		{"fail/standard base64", "inst-a", strings.NewReplacer("-", "+", "_", "/").Replace(sealed) + "+/", now},
		{"fail/empty", "inst-a", "", now},
		{"fail/oversized", "inst-a", strings.Repeat("A", 8<<10+1), now},
		{"fail/oversized around a valid value", "inst-a", sealed + strings.Repeat("A", 8<<10), now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := Open(ring, tc.instance, tc.value, tc.at); !errors.Is(err, ErrInvalid) || got != (Request{}) {
				t.Fatalf("Open = %+v, %v; want ErrInvalid", got, err)
			}
		})
	}
	t.Run("fail/sealed JSON that is not a request", func(t *testing.T) {
		for _, plain := range []string{`not json`, `{"e": "soon"}`, `[]`} {
			b, err := ring.Encrypt([]byte(plain), []byte("castellan/logout/v1/inst-a"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(ring, "inst-a", base64.RawURLEncoding.EncodeToString(b), now); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open(%s) = %v", plain, err)
			}
		}
	})
	t.Run("fail/sealed for another purpose of the same ring", func(t *testing.T) {
		b, err := ring.Encrypt([]byte(`{"c":"client-1","e":99999999999}`), []byte("castellan/other/v1/inst-a"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ring, "inst-a", base64.RawURLEncoding.EncodeToString(b), now); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Open = %v", err)
		}
	})
}

// FuzzOpen feeds Open arbitrary values: it never panics, and whatever it
// accepts is the one request that was sealed, not a forgery.
func FuzzOpen(f *testing.F) {
	ring := newRing(f)
	sealed := seal(f, ring, "inst-a")
	f.Add(sealed)
	f.Add(sealed[:len(sealed)/2])
	f.Add("")
	f.Add("AAAA")
	f.Add("%%%")
	f.Add(strings.Repeat("_", 100))
	want := request
	want.Expires = now.Add(Lifetime).Unix()
	f.Fuzz(func(t *testing.T, v string) {
		got, err := Open(ring, "inst-a", v, now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || got != (Request{}) {
				t.Fatalf("Open = %+v, %v", got, err)
			}
			return
		}
		if got != want {
			t.Fatalf("Open(%q) accepted a request that was never sealed: %+v", v, got)
		}
	})
}
