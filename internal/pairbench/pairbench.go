package pairbench

import (
	"math"
	"slices"
	"testing"
	"time"
)

// Alternate runs op and its reference ref once each per iteration of one
// loop, op first on even iterations and ref first on odd ones, and times
// every call separately. It reports each side's mean (name-ns/op), median
// and 99th percentile (name-p50-µs, name-p99-µs), and the ratios op/ref of
// the means (ratio) and of the medians (p50-ratio). The benchmark's own
// ns/op is the time of one pair.
func Alternate(b *testing.B, opName string, op func(i int) error, refName string, ref func(i int) error) {
	opTimes, refTimes := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	timed := func(f func(int) error, i int, times *[]time.Duration) {
		start := time.Now()
		if err := f(i); err != nil {
			b.Fatal(err)
		}
		*times = append(*times, time.Since(start))
	}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			timed(op, i, &opTimes)
			timed(ref, i, &refTimes)
		} else {
			timed(ref, i, &refTimes)
			timed(op, i, &opTimes)
		}
	}
	b.StopTimer()
	opMean, opP50 := reportSide(b, opName, opTimes)
	refMean, refP50 := reportSide(b, refName, refTimes)
	b.ReportMetric(opMean/refMean, "ratio")
	b.ReportMetric(opP50/refP50, "p50-ratio")
}

// reportSide reports one side of Alternate and returns its mean in ns and
// median in µs.
func reportSide(b *testing.B, name string, times []time.Duration) (mean, p50 float64) {
	var total time.Duration
	for _, d := range times {
		total += d
	}
	mean = float64(total) / float64(len(times))
	slices.Sort(times)
	p50 = Percentile(times, 0.50)
	b.ReportMetric(mean, name+"-ns/op")
	b.ReportMetric(p50, name+"-p50-µs")
	b.ReportMetric(Percentile(times, 0.99), name+"-p99-µs")
	return mean, p50
}

// Percentile returns the q-quantile of sorted durations in microseconds
// (nearest-rank method).
func Percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted), max(1, int(math.Ceil(q*float64(len(sorted)))))) - 1
	return float64(sorted[i]) / float64(time.Microsecond)
}
