package app

import (
	"os"
	"runtime/debug"
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

// TuneGC sets the collector's target to GCPercent unless the operator set
// GOGC (an operator sets GOGC, or GOMEMLIMIT, to choose otherwise). The
// binary calls it at start, and so do the benchmarks that run the server
// in their own process, so that they measure it as it runs.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
