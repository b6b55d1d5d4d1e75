package app

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// GCPercent is the garbage collector's target when GOGC is not set: the
// heap may grow to three times what was live at the last collection
// instead of twice. A token grant allocates about 20 KB, most of it
// garbage at once; at 200 the collector runs half as often, which took
// 12% off a client_credentials grant's CPU (docs/benchmarks.md), for a
// heap goal about 50% larger — a few megabytes for a server whose live
// heap is under ten. Password hashes' memory does not depend on it: the
// hasher collects before each hash allocates (package password).
const GCPercent = 200

// HeapFloor is the heap goal the collector is given at least when GOGC
// is not set. A server's live heap is small (2 MB serving user searches),
// and the runtime's goal for it is its minimum, 4 MB × GCPercent/100 =
// 8 MB: searches of 50 users, which allocate about 60 KB each, started a
// collection every tenth of a second at 500 a second, and on 2 cores the
// requests that ran during one waited for its marking — the slowest 2–3%
// of them (docs/benchmarks.md, "The collector's floor"). With the floor
// the heap may hold about 22 MB of garbage before a collection, a quarter
// as many collections. A heap whose live part is a third of the floor or
// more (8 MB) is collected at GCPercent as before: a server under a storm
// of sign-ins has that much live, and holds what it held without the
// floor. 32 MB did not (a storm's peak 3–6 MB higher, over its budget).
const HeapFloor = 24 << 20

// runtimeHeapMinimum is the runtime's smallest heap goal at GOGC=100;
// it scales with GOGC, so a target above HeapFloor's would raise the goal
// past the floor.
const runtimeHeapMinimum = 4 << 20

// TuneGC sets the collector's target to GCPercent and keeps the heap
// goal at HeapFloor or more, unless the operator set GOGC (an operator
// sets GOGC, or GOMEMLIMIT, to choose otherwise; GOMEMLIMIT still bounds
// the heap with the floor). The binary calls it at start, and so do the
// benchmarks that run the server in their own process, so that they
// measure it as it runs.
func TuneGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	floor.Do(func() {
		debug.SetGCPercent(GCPercent)
		floor.percent = GCPercent
		floor.live[0].Name = "/gc/heap/live:bytes"
		armFloor()
	})
}

// floor is the state of the floor's tuning, changed only by the
// finalizer goroutine after TuneGC's first call.
var floor struct {
	sync.Once
	percent int
	live    [1]metrics.Sample
}

// floorSentinel is dropped as soon as it is made; its finalizer runs
// after the collection that finds it, sets the next target, and makes
// another.
type floorSentinel struct{ _ *int }

func armFloor() {
	runtime.SetFinalizer(&floorSentinel{}, func(*floorSentinel) {
		metrics.Read(floor.live[:])
		if p := percentFor(floor.live[0].Value.Uint64()); p != floor.percent {
			// SetGCPercent stops the world briefly: only when the target
			// moves by more than an eighth.
			if d := p - floor.percent; d > floor.percent/8 || -d > floor.percent/8 {
				debug.SetGCPercent(p)
				floor.percent = p
			}
		}
		armFloor()
	})
}

// percentFor is the target that gives a heap whose live part is live the
// goal HeapFloor, or GCPercent when that goal is above the floor already.
func percentFor(live uint64) int {
	if live == 0 || live*(100+GCPercent)/100 >= HeapFloor {
		return GCPercent
	}
	p := int(HeapFloor*100/live) - 100
	return max(GCPercent, min(p, HeapFloor*100/runtimeHeapMinimum))
}
