package dpop_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
	"github.com/go-jose/go-jose/v4"
)

// ring is a key ring of fixed keys.
type ring struct{ current string }

func (r ring) CurrentID() string { return r.current }
func (r ring) DeriveKey(id, purpose string) ([]byte, error) {
	if id != "k1" && id != "k2" {
		return nil, errors.New("unknown key")
	}
	sum := sha256.Sum256([]byte(id + purpose))
	return sum[:], nil
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(c.t.Load(), 0) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d / time.Second)) }
func newClock(t time.Time) *clock    { c := &clock{}; c.t.Store(t.Unix()); return c }
func code(err error) string {
	e := oauth.AsError(err)
	if e == nil {
		return ""
	}
	return e.Code
}

func TestNonces(t *testing.T) {
	c := newClock(time.Now())
	n := dpop.NewNonces(ring{"k1"}, c.now)
	nonce, err := n.Issue("inst-a")
	if err != nil {
		t.Fatal(err)
	}
	if !n.Valid("inst-a", nonce) {
		t.Fatal("fresh nonce refused")
	}
	if n.Valid("inst-b", nonce) {
		t.Fatal("nonce of another instance accepted")
	}
	tampered := nonce[:len(nonce)-2] + "AA"
	if tampered == nonce {
		tampered = nonce[:len(nonce)-2] + "BB"
	}
	if n.Valid("inst-a", tampered) {
		t.Fatal("tampered nonce accepted")
	}
	// Another replica with the same ring accepts it.
	if !dpop.NewNonces(ring{"k1"}, c.now).Valid("inst-a", nonce) {
		t.Fatal("another replica refused the nonce")
	}
	// After a rotation the nonce of the retired key still verifies
	// while it is young; new nonces name the new key.
	rotated := dpop.NewNonces(ring{"k2"}, c.now)
	if !rotated.Valid("inst-a", nonce) {
		t.Fatal("nonce refused after a rotation")
	}
	c.add(dpop.NonceWindow)
	if !n.Valid("inst-a", nonce) {
		t.Fatal("nonce of the previous window refused")
	}
	c.add(dpop.NonceWindow)
	if n.Valid("inst-a", nonce) {
		t.Fatal("nonce two windows old accepted")
	}
	for _, bad := range []string{"", ".", "x.y", "azE.AAAA"} {
		if n.Valid("inst-a", bad) {
			t.Fatalf("nonce %q accepted", bad)
		}
	}
}

// memReplays is a Replayer in memory that counts what it was asked.
type memReplays struct {
	seen  map[string]bool
	calls int
}

func (m *memReplays) Remember(_ context.Context, instanceID, jkt, jti string, _ time.Time) (bool, error) {
	m.calls++
	k := instanceID + " " + jkt + " " + jti
	fresh := !m.seen[k]
	m.seen[k] = true
	return fresh, nil
}

// TestCheckerOrder: a proof refused for its claims or its nonce is not
// remembered; one accepted is, and only once.
func TestCheckerOrder(t *testing.T) {
	c := newClock(time.Now())
	m := &memReplays{seen: map[string]bool{}}
	checker := &dpop.Checker{Nonces: dpop.NewNonces(ring{"k1"}, c.now), Replays: m, Now: c.now}
	k := dpoptest.NewKey(t, jose.ES256)
	target := dpop.Target{Method: "POST", URL: tokenURL}
	ctx := context.Background()
	if _, err := checker.Check(ctx, "i", k.Proof(t, dpoptest.Claims{HTM: "GET", HTU: tokenURL, IAT: c.now()}), target, false); code(err) != dpop.InvalidProof {
		t.Fatalf("wrong htm: %v", err)
	}
	if _, err := checker.Check(ctx, "i", k.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: c.now()}), target, true); code(err) != dpop.UseNonce {
		t.Fatalf("no nonce: %v", err)
	}
	if _, err := checker.Check(ctx, "i", k.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: c.now(), Nonce: "forged"}), target, false); code(err) != dpop.UseNonce {
		t.Fatalf("a nonce the server never gave: %v", err)
	}
	if m.calls != 0 {
		t.Fatalf("refused proofs were remembered (%d)", m.calls)
	}
	n, _ := checker.NonceFor("i")
	raw := k.Proof(t, dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: c.now(), Nonce: n})
	p, err := checker.Check(ctx, "i", raw, target, true)
	if err != nil || p.JKT != k.JKT(t) || p.Nonce != n {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := checker.Check(ctx, "i", raw, target, true); code(err) != dpop.InvalidProof {
		t.Fatalf("replay: %v", err)
	}
}
