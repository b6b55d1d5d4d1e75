package pace

import (
	"context"
	"testing"
	"time"
)

func TestFloorIsTheNinetiethPercentileOfTheRecent(t *testing.T) {
	var p Pacer
	if p.Floor() != 0 {
		t.Fatal("a new pacer holds nothing back")
	}
	for i := 1; i <= 100; i++ {
		p.Record(time.Duration(i) * time.Millisecond)
	}
	// The window keeps the last 64: 37..100 ms; their 90th percentile.
	if got, want := p.Floor(), 94*time.Millisecond; got != want {
		t.Fatalf("floor %v, want %v", got, want)
	}
}

func TestWaitHoldsTheFastCase(t *testing.T) {
	var p Pacer
	p.Record(30 * time.Millisecond)
	start := time.Now()
	p.Answer(context.Background(), start, false)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("a fast answer came after %v, before the floor", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Record(time.Hour)
	start = time.Now()
	p.Wait(ctx, start)
	if time.Since(start) > time.Second {
		t.Fatal("a cancelled request waited")
	}
}
