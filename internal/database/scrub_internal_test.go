package database

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Erasures that arrive while a scrub runs share the next one, which covers
// all their tables; a caller that gives up does not stop it.
func TestScrubberSharesTheNextRun(t *testing.T) {
	ctx := context.Background()
	var s scrubber
	runs := make(chan []string, 10)
	release := make(chan struct{})
	scrub := func(ctx context.Context, tables []string) error {
		runs <- slices.Clone(tables)
		<-release
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errors.New("scrubbed " + fmt.Sprint(tables))
	}
	errs := make(chan error, 10)
	go func() { errs <- s.do(ctx, []string{"a"}, scrub) }()
	if first := <-runs; !slices.Equal(first, []string{"a"}) {
		t.Fatalf("first run covers %v", first)
	}
	for i := range 5 {
		go func() { errs <- s.do(ctx, []string{fmt.Sprintf("b%d", i), "a"}, scrub) }()
	}
	gaveUp, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.do(gaveUp, []string{"c"}, scrub); !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller that gave up: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		s.mu.Lock()
		n := len(s.next.tables)
		s.mu.Unlock()
		if n == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tables wait for the next run, want 7", n)
		}
		time.Sleep(time.Millisecond)
	}
	release <- struct{}{}
	if err := <-errs; err == nil || err.Error() != "scrubbed [a]" {
		t.Fatalf("first caller: %v", err)
	}
	second := <-runs
	slices.Sort(second)
	if !slices.Equal(second, []string{"a", "b0", "b1", "b2", "b3", "b4", "c"}) {
		t.Fatalf("second run covers %v", second)
	}
	release <- struct{}{}
	shared := <-errs
	for range 4 {
		if err := <-errs; err != shared || !strings.HasPrefix(err.Error(), "scrubbed [") {
			t.Fatalf("waiting callers: %v and %v, want the one result of the second run", shared, err)
		}
	}
	select {
	case r := <-runs:
		t.Fatalf("a third run: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
}
