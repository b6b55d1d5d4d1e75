package password

import (
	"context"
	"runtime"
	"runtime/metrics"
	"slices"
	"syscall"
	"testing"
	"time"
)

// heapObjects is the heap's live and not yet collected objects, in bytes.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHashMemoryIsReclaimedBeforeTheNextHash: under a storm, the heap
// holds about one argon2id memory per slot, not the 2.5 to 3.3 per slot it
// held when the garbage collector alone decided when to reclaim a finished
// hash's memory (collect).
func TestHashMemoryIsReclaimedBeforeTheNextHash(t *testing.T) {
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
	verifyAtOnce(t, h, "a password", stored, 8, 3)
	close(stop)
	<-sampled
	over, budget := float64(peak-base)/(1<<20), 1.5*slots*memKiB/1024.0
	t.Logf("heap peak %.1f MiB over the start, budget %.1f MiB", over, budget)
	if over > budget {
		t.Fatalf("the heap grew by %.1f MiB under %d slots of %d MiB; at most %.1f MiB expected", over, slots, memKiB>>10, budget)
	}
}

// minorFaults is the process's minor page faults so far: pages it touched
// for the first time since the kernel gave them (or took them back).
func minorFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Skip(err)
	}
	return ru.Minflt
}

// TestHashesReuseTheirPages: one sign-in after another, a hash reuses the
// pages of the one before instead of faulting in fresh ones (the median
// hash faults in less than a quarter of its memory), and once the hasher
// is idle its memory goes back to the system. In a heap this small the
// collection's timing (collect) rarely matters; in the server it does
// (docs/benchmarks.md, "Password sign-ins": 410–747 faults per sign-in
// before, 144–337 after).
func TestHashesReuseTheirPages(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 12 times at 8 MiB")
	}
	const memKiB = 8 << 10
	h := NewHasherWithQueue(Params{MemoryKiB: memKiB, Iterations: 1, Parallelism: 1}, 1, 4, time.Minute)
	h.idle = 300 * time.Millisecond
	stored, err := h.Hash(context.Background(), "a password")
	if err != nil {
		t.Fatal(err)
	}
	verify := func() {
		if ok, err := h.Verify(context.Background(), "a password", stored); !ok || err != nil {
			t.Fatalf("verify: %v %v", ok, err)
		}
	}
	verify()
	// Each hash's faults, and their median: the runtime's scavenger runs
	// on its own, and on a busy machine it sometimes reaches pages between
	// the collection and the allocation.
	faults := make([]int64, 10)
	for i := range faults {
		before := minorFaults(t)
		verify()
		faults[i] = minorFaults(t) - before
		// The rest of a sign-in, during which the scavenger may run.
		time.Sleep(30 * time.Millisecond)
	}
	slices.Sort(faults)
	median, pages := faults[len(faults)/2], int64(memKiB/4)
	t.Logf("page faults per hash of %d pages: %v", pages, faults)
	if median > pages/4 {
		t.Errorf("a median of %d page faults per hash: the hashes fault in their %d pages again instead of reusing them", median, pages)
	}

	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	idle := released()
	deadline := time.Now().Add(5 * time.Second)
	for released() < idle+memKiB<<10/2 {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the last hash, %d KiB more were given back to the system; the hash's %d KiB expected", (released()-idle)>>10, memKiB)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
