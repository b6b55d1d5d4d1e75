package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := New(3, time.Minute, func() time.Time { return now })
	for i := range 3 {
		if !l.Allow("a") {
			t.Fatalf("event %d refused", i)
		}
	}
	if l.Allow("a") {
		t.Fatal("fourth event allowed")
	}
	if !l.Allow("b") {
		t.Fatal("another key shares the count")
	}
	now = now.Add(time.Minute)
	if !l.Allow("a") {
		t.Fatal("a new window keeps the old count")
	}

	// The table is bounded: new keys are refused when it is full.
	l.maxKeys = 10
	for i := range 9 {
		l.Allow(fmt.Sprint(i))
	}
	if l.Allow("one too many") {
		t.Fatal("a key beyond the bound is tracked")
	}
	if !l.Allow("a") {
		t.Fatal("a tracked key is refused when the table is full")
	}
}
