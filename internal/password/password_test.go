package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var cheap = Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	stored, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", stored)
	}
	for _, tc := range []struct {
		name     string
		password string
		want     bool
	}{{"ok/right password", "correct horse", true}, {"fail/wrong password", "correct horsE", false}, {"fail/empty", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, tc.password, stored)
			if err != nil || ok != tc.want {
				t.Fatalf("Verify = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	again, _ := h.Hash(ctx, "correct horse")
	if again == stored {
		t.Fatal("two hashes of one password must differ (random salt)")
	}
	if h.NeedsRehash(stored) {
		t.Fatal("fresh hash needs rehash")
	}
	if !NewHasher(OWASP, 1).NeedsRehash(stored) {
		t.Fatal("hash with other parameters must need rehash")
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		// Beyond MaxParams: 4 GiB, 64 passes, 32 lanes, 256 MiB + 1 KiB.
		"$argon2id$v=19$m=4194304,t=64,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=11,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,p=17$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=262145,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8192,t=1,x=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, _, _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted a malformed hash", s)
		}
	}
	if _, _, _, err := Parse("$argon2id$v=19$m=262144,t=10,p=16$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"); err != nil {
		t.Errorf("Parse refused a hash at MaxParams: %v", err)
	}
}

// A stored hash of Castellan's own format beyond MaxParams is refused by
// Verify and VerifyAny before any memory is allocated for it.
func TestVerifyRefusesCostlyOwnHash(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 1)
	stored := "$argon2id$v=19$m=4194304,t=64,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
	if _, _, _, err := Parse(stored); err == nil {
		t.Fatal("Parse accepted 4 GiB and 64 iterations")
	}
	if ok, err := h.Verify(ctx, "correct horse", stored); ok || err == nil {
		t.Fatalf("Verify = %v, %v; want an error", ok, err)
	}
	ok, upgrade, err := h.VerifyAny(ctx, "correct horse", stored)
	if ok || !upgrade || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "iterations t=64") {
		t.Fatalf("VerifyAny = %v, %v, %v; want an error naming the iterations", ok, upgrade, err)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	h := NewHasher(cheap, 2)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := h.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			running.Add(-1)
			h.release(heapAllocs())
		})
	}
	wg.Wait()
	if peak.Load() > 2 {
		t.Fatalf("%d hashes ran at once, limit is 2", peak.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	full := NewHasher(cheap, 1)
	full.slots <- struct{}{}
	if _, err := full.Hash(ctx, "x"); err == nil {
		t.Fatal("Hash waited past a cancelled context")
	}
}

func TestGenerate(t *testing.T) {
	p, err := Generate(20)
	if err != nil || len(p) != 20 || strings.ContainsAny(p, "0O1lI") {
		t.Fatalf("Generate = %q, %v", p, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := Parse(s)
		if err == nil && (p.MemoryKiB > MaxParams.MemoryKiB || p.Iterations > MaxParams.Iterations || p.Parallelism > MaxParams.Parallelism ||
			len(salt) == 0 || len(key) == 0) {
			t.Fatalf("accepted out-of-bounds hash %q", s)
		}
	})
}
