package app

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestPercentForKeepsTheFloor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, GCPercent},
		{2 << 20, 600},       // 2 MB × 12 would be the floor, but the runtime's minimum at 1100 is 44 MB: capped
		{4 << 20, 500},       // 4 MB × 6 = 24 MB
		{6 << 20, 300},       // 6 MB × 4
		{7 << 20, 242},       // 7 MB × 3.42
		{8 << 20, GCPercent}, // 24 MB at 200: the floor already
		{1 << 30, GCPercent},
	} {
		if got := percentFor(c.live); got != c.want {
			t.Errorf("percentFor(%d MB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// TestHeapGoalHasAFloor checks the runtime's own heap goal: with a live
// heap of a few megabytes it would be 8 MB at GCPercent; TuneGC keeps it
// near HeapFloor, so garbage is collected a quarter as often.
func TestHeapGoalHasAFloor(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: TuneGC leaves the collector to it")
	}
	TuneGC()
	sample := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	var sink []byte
	for range 4 {
		runtime.GC() // the finalizer sets the target after each collection
		for range 64 << 10 {
			sink = make([]byte, 256) // garbage, a few collections' worth
		}
	}
	_ = sink
	metrics.Read(sample)
	goal, live := sample[0].Value.Uint64(), sample[1].Value.Uint64()
	if live*(100+GCPercent)/100 >= HeapFloor {
		t.Skipf("live heap %d MB: the floor does not apply", live>>20)
	}
	if goal < HeapFloor*7/8 {
		t.Fatalf("heap goal %.1f MB with %.1f MB live, want about %d MB", float64(goal)/(1<<20), float64(live)/(1<<20), HeapFloor>>20)
	}
	if goal > HeapFloor*5/4 {
		t.Fatalf("heap goal %.1f MB with %.1f MB live: over the floor", float64(goal)/(1<<20), float64(live)/(1<<20))
	}
}
