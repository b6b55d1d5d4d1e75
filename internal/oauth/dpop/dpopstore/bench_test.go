package dpopstore_test

import (
	"context"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/oauth/dpop"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpopstore"
	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// BenchmarkRemember measures the replay store: 8 concurrent writers
// remembering proofs (one insert each, sharing transactions), against the
// reference of checking as many proofs (dpop.Parse, ES256) on the same 8
// goroutines, alternately in the same loop. It reports each side's wall
// time per proof at that concurrency and their ratio — what the store adds
// to a proof's check — and each side's CPU time per proof (this process's,
// so on PostgreSQL without the database server's).
func BenchmarkRemember(b *testing.B) {
	const writers, batch = 8, 64
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			db := backend.New(b).Open(b, dpopstore.Migrations)
			store := dpopstore.NewReplays(db)
			k := dpoptest.NewKey(b, jose.ES256)
			raw := k.Proof(b, dpoptest.Claims{HTM: "POST", HTU: "https://login.example.com/oauth/v2/token"})
			target := dpop.Target{Method: "POST", URL: "https://login.example.com/oauth/v2/token"}
			jkt, now, ctx := k.JKT(b), time.Now(), context.Background()
			run := func(op func(w, i int) error) (time.Duration, time.Duration) {
				var wg sync.WaitGroup
				cpu := processCPU()
				began := time.Now()
				for w := range writers {
					wg.Go(func() {
						for i := range batch {
							if err := op(w, i); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return time.Since(began), processCPU() - cpu
			}
			var n int
			var remember, parse, rememberCPU, parseCPU time.Duration
			b.ResetTimer()
			for it := range b.N {
				wall, cpu := run(func(w, i int) error {
					_, err := store.Remember(ctx, "inst", jkt, strconv.Itoa(it)+"-"+strconv.Itoa(w)+"-"+strconv.Itoa(i), now.Add(time.Minute))
					return err
				})
				remember, rememberCPU = remember+wall, rememberCPU+cpu
				wall, cpu = run(func(int, int) error { _, err := dpop.Parse(raw, target, now); return err })
				parse, parseCPU = parse+wall, parseCPU+cpu
				n += writers * batch
			}
			b.ReportMetric(float64(remember.Microseconds())/float64(n), "remember-µs/proof")
			b.ReportMetric(float64(parse.Microseconds())/float64(n), "parse-µs/proof")
			b.ReportMetric(float64(remember)/float64(parse), "ratio")
			b.ReportMetric(float64(rememberCPU.Microseconds())/float64(n), "remember-cpu-µs/proof")
			b.ReportMetric(float64(parseCPU.Microseconds())/float64(n), "parse-cpu-µs/proof")
		})
	}
}

// processCPU is the CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
