package dpopstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpopstore"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

const tokenURL = "https://login.example.com/oauth/v2/token"

// ring is a key ring of fixed keys.
type ring struct{ current string }

func (r ring) CurrentID() string { return r.current }
func (r ring) DeriveKey(id, purpose string) ([]byte, error) {
	if id != "k1" {
		return nil, errors.New("unknown key")
	}
	sum := sha256.Sum256([]byte(id + purpose))
	return sum[:], nil
}

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(c.t.Load(), 0) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d / time.Second)) }

func code(err error) string {
	if e := oauth.AsError(err); e != nil {
		return e.Code
	}
	return ""
}

func TestChecker(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, dpopstore.Migrations)
		ctx := context.Background()
		c := &clock{}
		c.t.Store(time.Now().Unix())
		checker := &dpop.Checker{Nonces: dpop.NewNonces(ring{"k1"}, c.now), Replays: dpopstore.NewReplays(db), Now: c.now}
		// A second replica: its own checker, the same database.
		replica := &dpop.Checker{Nonces: dpop.NewNonces(ring{"k1"}, c.now), Replays: dpopstore.NewReplays(db), Now: c.now}
		k := dpoptest.NewKey(t, jose.ES256)
		target := dpop.Target{Method: "POST", URL: tokenURL}
		claims := dpoptest.Claims{HTM: "POST", HTU: tokenURL, IAT: c.now()}

		t.Run("fail/replayed jti, on another replica too", func(t *testing.T) {
			raw := k.Proof(t, claims)
			if _, err := checker.Check(ctx, "inst-a", raw, target, false); err != nil {
				t.Fatal(err)
			}
			if _, err := checker.Check(ctx, "inst-a", raw, target, false); code(err) != dpop.InvalidProof {
				t.Fatalf("replay: %v", err)
			}
			if _, err := replica.Check(ctx, "inst-a", raw, target, false); code(err) != dpop.InvalidProof {
				t.Fatalf("replay on another replica: %v", err)
			}
			// The same jti in another instance is another proof.
			if _, err := checker.Check(ctx, "inst-b", raw, target, false); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("fail/concurrent replays: one wins", func(t *testing.T) {
			raw := k.Proof(t, claims)
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func(c *dpop.Checker) {
					defer wg.Done()
					if _, err := c.Check(ctx, "inst-a", raw, target, false); err == nil {
						wins.Add(1)
					} else if code(err) != dpop.InvalidProof {
						t.Error(err)
					}
				}([]*dpop.Checker{checker, replica}[i%2])
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d of 8 uses of one proof accepted", wins.Load())
			}
		})
		t.Run("fail/nonce required, none given", func(t *testing.T) {
			if _, err := checker.Check(ctx, "inst-a", k.Proof(t, claims), target, true); code(err) != dpop.UseNonce {
				t.Fatalf("err = %v, want use_dpop_nonce", err)
			}
		})
		t.Run("fail/nonce of another instance", func(t *testing.T) {
			n, _ := checker.NonceFor("inst-b")
			cl := claims
			cl.Nonce = n
			if _, err := checker.Check(ctx, "inst-a", k.Proof(t, cl), target, true); code(err) != dpop.UseNonce {
				t.Fatalf("err = %v, want use_dpop_nonce", err)
			}
		})
		t.Run("ok/nonce required and given; the proof is spent only then", func(t *testing.T) {
			n, _ := replica.NonceFor("inst-a")
			cl := claims
			cl.Nonce = n
			raw := k.Proof(t, cl)
			if _, err := checker.Check(ctx, "inst-a", raw, target, true); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("ok/expired proofs are swept", func(t *testing.T) {
			c.add(dpop.Lifetime + dpop.Skew + time.Second)
			if err := dpopstore.Sweep(ctx, db, c.now()); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM dpop_proofs`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d proofs left after the sweep (%v)", n, err)
			}
		})
	})
}
