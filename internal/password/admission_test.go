package password

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAStormIsRefusedNotQueuedWithoutBound: with every slot taken, at most
// queue callers wait, each at most maxWait; the others are refused at once
// with ErrBusy, which a caller may retry.
func TestAStormIsRefusedNotQueuedWithoutBound(t *testing.T) {
	ctx := context.Background()
	h := NewHasherWithQueue(Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, 1, 1, 100*time.Millisecond)
	if _, err := h.acquire(ctx); err != nil { // the one slot is busy
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		start := time.Now()
		_, err := h.acquire(ctx) // the one place in the queue
		if err == nil {
			err = errors.New("got a slot that was taken")
		}
		if time.Since(start) < 100*time.Millisecond {
			err = errors.New("gave up before the wait limit")
		}
		waited <- err
	}()
	// Wait until the waiter holds its place, then one more is refused at once.
	deadline := time.Now().Add(5 * time.Second)
	for len(h.admitted) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := h.Hash(ctx, "a password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a caller beyond the queue: %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("the refusal took %s; it must not wait", d)
	}
	if err := <-waited; !errors.Is(err, ErrBusy) {
		t.Fatalf("the waiter: %v, want ErrBusy after the wait limit", err)
	}
	h.release(heapAllocs())
	if len(h.admitted) != 0 || len(h.slots) != 0 {
		t.Fatalf("places left taken: admitted %d, slots %d", len(h.admitted), len(h.slots))
	}
	if _, err := h.Hash(ctx, "a password"); err != nil {
		t.Fatalf("after the storm: %v", err)
	}

	// A cancelled waiter gives its place back.
	if _, err := h.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.acquire(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	h.release(heapAllocs())
	if len(h.admitted) != 0 {
		t.Fatal("a cancelled waiter kept its place")
	}
}

func TestTimingHashCostsWhatARealOneDoes(t *testing.T) {
	h := NewHasher(Params{MemoryKiB: 64, Iterations: 2, Parallelism: 1}, 1)
	first := h.TimingHash()
	p, _, _, err := Parse(first)
	if err != nil || p != h.params || h.TimingHash() != first {
		t.Fatalf("timing hash %q: %v %v", h.TimingHash(), p, err)
	}
	if ok, err := h.Verify(context.Background(), "anything", h.TimingHash()); ok || err != nil {
		t.Fatalf("the timing hash matched: %v %v", ok, err)
	}
}

// TestReserveRefusesBeforeTheWork: a reserved place counts like a caller in
// the queue, is used by the request's first hash, and is given back by
// done when no hash used it.
func TestReserveRefusesBeforeTheWork(t *testing.T) {
	ctx := context.Background()
	h := NewHasherWithQueue(Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, 1, 1, 100*time.Millisecond)
	rctx, done1, err := h.Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, done2, err := h.Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Reserve(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("a third reservation with one slot and one queue place: %v", err)
	}
	// Reserving again in the same request keeps the one place.
	if again, doneAgain, err := h.Reserve(rctx); err != nil || again != rctx {
		t.Fatalf("a second reservation of the same request: %v", err)
	} else {
		doneAgain()
	}
	if n := len(h.admitted); n != 2 {
		t.Fatalf("%d places taken, want 2", n)
	}
	// The first request hashes on its reserved place: no new place taken.
	if _, err := h.Hash(rctx, "password"); err != nil {
		t.Fatal(err)
	}
	done1() // used: gives back nothing more
	if n := len(h.admitted); n != 1 {
		t.Fatalf("%d places taken, want 1 (the second reservation)", n)
	}
	done2() // unused: gives its place back
	done2() // once only
	if n := len(h.admitted); n != 0 {
		t.Fatalf("%d places taken after both requests ended", n)
	}
	// A second hash of the same request takes a place of its own.
	rctx, done, err := h.Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(rctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(rctx, "b"); err != nil {
		t.Fatal(err)
	}
	done()
	if n := len(h.admitted); n != 0 {
		t.Fatalf("%d places taken at the end", n)
	}
}
