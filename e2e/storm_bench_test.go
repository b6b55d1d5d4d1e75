package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/pairbench"
)

// BenchmarkPasswordStorm sends storm concurrent sign-ins with the right
// password at once to an idle server (default configuration: as many
// hashing slots as CPUs, a queue of 64, 5 s at most in it) and samples the
// server's resident memory (VmRSS) every 10 ms, from before the storm
// until recoverWithin after its last answer. Idle is the server's memory
// after its first start, before any sign-in. It reports idle, the peak, the
// peak over idle against the budget 1.5 × slots × memory_kib, the memory
// recoverWithin after the storm and how long it took to come back within
// memory_kib/2 of idle (-1: not within recoverWithin); the sign-ins
// admitted and refused, each side's median and 99th percentile latency,
// and the admitted p99's bound 2 × one hash's time × queue / slots, the
// hash's time measured by the reference just before the storm.
//
// Each size runs against a server that hashes in hashing processes (the
// default, passwords.isolated) and one that hashes in its own process;
// the server's memory counts its hashing processes' (treeRSSKiB).
//
// CASTELLAN_BENCH_STORM sets the storm sizes, comma-separated (default
// 500).
func BenchmarkPasswordStorm(b *testing.B) {
	sizes := []int{500}
	if v := os.Getenv("CASTELLAN_BENCH_STORM"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, size := range sizes {
		for _, isolated := range []bool{true, false} {
			b.Run(fmt.Sprintf("storm=%d/isolated=%t", size, isolated), func(b *testing.B) { passwordStorm(b, size, isolated) })
		}
	}
}

const recoverWithin = 30 * time.Second

func passwordStorm(b *testing.B, storm int, isolated bool) {
	params := defaultArgon2(b)
	cfg, err := config.Load(nil, func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	slots, queue := cfg.Passwords.MaxConcurrent, cfg.Passwords.Queue
	ref := startArgon2Child(b, params)
	memory := float64(params.MemoryKiB)
	var idle, peak, after, recovered, budget, bound float64
	var admitted, refused []time.Duration
	var other int
	for range b.N {
		env := []string{fmt.Sprintf("CASTELLAN_PASSWORDS_ISOLATED=%t", isolated)}
		// Settings of the server under test, such as
		// CASTELLAN_BENCH_SERVER_ENV="CASTELLAN_SERVER_MAX_CONNECTIONS=64 GOGC=100".
		env = append(env, strings.Fields(os.Getenv("CASTELLAN_BENCH_SERVER_ENV"))...)
		var mgmt string
		if os.Getenv("CASTELLAN_BENCH_STORM_RUNTIME") != "" {
			mgmt = fmt.Sprintf("127.0.0.1:%d", freePort(b))
			env = append(env, "CASTELLAN_SERVER_MANAGEMENT_LISTEN="+mgmt)
		}
		s := startSignInServer(b, env...)
		pid := s.cmd.Process.Pid
		_, hash, _, _ := ref.run(b, "3")
		hash /= 3
		// Idle is a server that has signed users in (3 by default;
		// CASTELLAN_BENCH_STORM_WARM=0 measures the fresh start): the
		// first sign-ins build what the server keeps for the next ones
		// (statements, the API's and the codecs' caches), a cost that
		// does not grow with a storm's size.
		warm := 3
		if v := os.Getenv("CASTELLAN_BENCH_STORM_WARM"); v != "" {
			var err error
			if warm, err = strconv.Atoi(v); err != nil {
				b.Fatal(err)
			}
		}
		for range warm {
			s.mustSignIn(b)
		}
		s.client.CloseIdleConnections()
		time.Sleep(2 * time.Second)
		// The first start hashed the administrator's password: its
		// hashing process hands that hash's memory back after the
		// hasher's idle time (and stays: idle includes it).
		holding := func() bool {
			for _, child := range childPIDs(pid) {
				if anonKiB(child) > memory/2 {
					return true
				}
			}
			return false
		}
		for deadline := time.Now().Add(20 * time.Second); holding(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("hashing processes %v still hold a hash's memory 20 s after the server started", childPIDs(pid))
			}
		}
		base := treeRSSKiB(b, pid)

		// Sample every 10 ms until told to stop.
		var samples []float64
		var serverPeak, serverAnonPeak, childrenPeak float64 // each's own peak
		serverAnonIdle := anonKiB(pid)
		var times []time.Duration
		began := time.Now()
		stopSampling := every(10*time.Millisecond, func() {
			server, children := treeParts(b, pid)
			samples = append(samples, server+children)
			serverPeak, childrenPeak = max(serverPeak, server), max(childrenPeak, children)
			serverAnonPeak = max(serverAnonPeak, anonKiB(pid))
			times = append(times, time.Since(began))
		})
		var runtimePeaks map[string]float64
		stopRuntime := func() {}
		if mgmt != "" {
			runtimePeaks = map[string]float64{}
			stopRuntime = every(50*time.Millisecond, func() { readRuntime("http://"+mgmt+"/metrics", runtimePeaks) })
		}

		// All clients connect first, then sign in together.
		results := make([]timedCall, storm)
		var ready, wg sync.WaitGroup
		gate := make(chan struct{})
		ready.Add(storm)
		for i := range storm {
			wg.Go(func() {
				ready.Done()
				<-gate
				results[i] = s.signIn(b)
			})
		}
		ready.Wait()
		close(gate)
		wg.Wait()
		stormEnd := time.Since(began)
		time.Sleep(recoverWithin)
		stopSampling()
		stopRuntime()

		iterPeak := slices.Max(samples)
		iterRecovered := -1.0
		for i := len(samples) - 1; i >= 0 && times[i] > stormEnd && samples[i] <= base+memory/2; i-- {
			iterRecovered = (times[i] - stormEnd).Seconds()
		}
		idle += base
		peak += iterPeak
		after += samples[len(samples)-1]
		if iterRecovered < 0 || recovered < 0 {
			recovered = -1
		} else {
			recovered = max(recovered, iterRecovered)
		}
		budget = 1.5 * float64(slots) * memory
		bound += float64(2*hash) * float64(queue) / float64(slots)
		for _, r := range results {
			switch {
			case r.status == http.StatusOK:
				admitted = append(admitted, r.took)
			case r.status == http.StatusServiceUnavailable && r.retryAfter != "":
				refused = append(refused, r.took)
			default:
				other++
				b.Logf("unexpected answer: %d %s", r.status, r.body)
			}
		}
		var children []string
		for _, child := range childPIDs(pid) {
			children = append(children, fmt.Sprintf("%.1f", anonKiB(child)/1024))
		}
		b.Logf("at the end: the server %.1f MiB (%.1f anonymous), its hashing processes %v MiB (anonymous)",
			rssKiB(b, pid)/1024, anonKiB(pid)/1024, children)
		b.Logf("peaks apart: the server %.1f MiB (anonymous %.1f, idle %.1f), its hashing processes %.1f MiB (anonymous)",
			serverPeak/1024, serverAnonPeak/1024, serverAnonIdle/1024, childrenPeak/1024)
		b.Logf("idle %.1f MiB, peak %.1f MiB (+%.1f, budget +%.1f), %.1f MiB %s after; %d admitted, %d refused",
			base/1024, iterPeak/1024, (iterPeak-base)/1024, budget/1024, samples[len(samples)-1]/1024, recoverWithin, len(admitted), len(refused))
		if runtimePeaks != nil {
			b.Logf("the server's runtime at its peaks (MiB): %v", runtimePeaks)
		}
		s.client.CloseIdleConnections()
		// Not stopProcess: startSignInServer waits for the process
		// already, and a second cmd.Wait could block for ever.
		_ = s.cmd.Process.Signal(os.Interrupt)
		s.done <- <-s.done // the cleanup receives the exit again
	}
	n := float64(b.N)
	mib := func(kib float64) float64 { return kib / 1024 / n }
	b.ReportMetric(mib(idle), "idle-MiB")
	b.ReportMetric(mib(peak), "peak-MiB")
	b.ReportMetric(mib(peak-idle), "peak-over-idle-MiB")
	b.ReportMetric(budget/1024, "budget-MiB")
	b.ReportMetric(mib(after), "after-30s-MiB")
	b.ReportMetric(recovered, "recovered-s")
	b.ReportMetric(float64(len(admitted))/n, "admitted")
	b.ReportMetric(float64(len(refused))/n, "refused")
	b.ReportMetric(float64(other)/n, "other")
	slices.Sort(admitted)
	slices.Sort(refused)
	ms := func(d float64) float64 { return d / 1000 }
	b.ReportMetric(ms(pairbench.Percentile(admitted, 0.5)), "admitted-p50-ms")
	b.ReportMetric(ms(pairbench.Percentile(admitted, 0.99)), "admitted-p99-ms")
	b.ReportMetric(bound/n/1e6, "p99-bound-ms")
	b.ReportMetric(ms(pairbench.Percentile(refused, 0.5)), "refused-p50-ms")
	b.ReportMetric(ms(pairbench.Percentile(refused, 0.99)), "refused-p99-ms")
}

// every calls sample every period in a goroutine of its own until the
// returned stop is called; stop returns once sample no longer runs.
func every(period time.Duration, sample func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	return func() { close(quit); <-done }
}

// runtimeGauges are the Go runtime's memory gauges of /metrics that
// readRuntime follows (CASTELLAN_BENCH_STORM_RUNTIME: where a storm's
// memory goes).
var runtimeGauges = []string{"go_memstats_stack_inuse_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_sys_bytes",
	"go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes", "go_goroutines"}

// readRuntime reads a server's /metrics once and keeps in peaks each
// gauge's highest value and, as "gauge@start", its first, in MiB (the
// number of goroutines as it is).
func readRuntime(url string, peaks map[string]float64) {
	resp, err := http.Get(url)
	if err != nil {
		return
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(raw), "\n") {
		for _, g := range runtimeGauges {
			v, ok := strings.CutPrefix(line, g+" ")
			f, err := strconv.ParseFloat(v, 64)
			if !ok || err != nil {
				continue
			}
			if g != "go_goroutines" {
				f /= 1 << 20
			}
			if _, seen := peaks[g+"@start"]; !seen {
				peaks[g+"@start"] = f
			}
			peaks[g] = max(peaks[g], f)
		}
	}
}
