package password

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// heapObjects is the heap's live and not yet collected objects, in bytes.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHashMemoryIsReclaimedBeforeTheSlotIsFree: under a storm, the heap
// holds about one argon2id memory per slot, not the 2.5 to 3.3 per slot it
// held when the garbage collector alone decided when to reclaim a finished
// hash's memory (release).
func TestHashMemoryIsReclaimedBeforeTheSlotIsFree(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 24 times at 8 MiB")
	}
	const slots, memKiB = 2, 8 << 10
	h := NewHasherWithQueue(Params{MemoryKiB: memKiB, Iterations: 1, Parallelism: 1}, slots, 64, time.Minute)
	stored, err := h.Hash(context.Background(), "a password")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	base := heapObjects()
	var peak uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			peak = max(peak, heapObjects())
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 3 {
				if ok, err := h.Verify(context.Background(), "a password", stored); !ok || err != nil {
					t.Errorf("verify: %v %v", ok, err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	over, budget := float64(peak-base)/(1<<20), 1.5*slots*memKiB/1024.0
	t.Logf("heap peak %.1f MiB over the start, budget %.1f MiB", over, budget)
	if over > budget {
		t.Fatalf("the heap grew by %.1f MiB under %d slots of %d MiB; at most %.1f MiB expected", over, slots, memKiB>>10, budget)
	}
}
