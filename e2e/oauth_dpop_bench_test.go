package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/castellan-iam/castellan/internal/oauth/dpop/dpoptest"
)

// BenchmarkDPoPGrants measures client_credentials grants per second with
// a DPoP proof (a bound JWT access token) against the same grants without
// one (a bearer JWT), in alternating windows of grantWindow on the same
// server (one core), the bearer window first on odd iterations: ratio is
// DPoP grants/s over bearer grants/s, cpu-ratio bearer CPU per grant over
// DPoP CPU per grant. What DPoP adds to a grant is the proof's parsing and
// ES256 verification, its thumbprint, the nonce-free policy check, and
// one insert into dpop_proofs (shared with concurrent grants' inserts by
// the group commit) — on SQLite or PostgreSQL.
//
// The clients' proofs are signed before each DPoP window (8 keys, one per
// client), so that the load generator's signing does not compete with the
// server; it leaves out the client's cost of a proof (one ES256 signature
// per request) and the expired rows' sweep (once a maintenance run).
func BenchmarkDPoPGrants(b *testing.B) {
	eachBenchBackend(b, func(b *testing.B, env []string) {
		s := startSignInServer(b, append([]string{"GOMAXPROCS=1"}, env...)...)
		clientID, secret := s.benchApplication(b, map[string]any{"name": "worker", "grantTypes": []string{"client_credentials"}})
		const clients = 8
		tokenURL := s.url + "/oauth/v2/token"
		keys := make([]*dpoptest.Key, clients)
		for i := range keys {
			keys[i] = dpoptest.NewKey(b, jose.ES256)
		}
		body := url.Values{"grant_type": {"client_credentials"}}.Encode()
		grant := func(proof string) error {
			req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(clientID, secret)
			want := `"token_type":"Bearer"`
			if proof != "" {
				req.Header.Set("DPoP", proof)
				want = `"token_type":"DPoP"`
			}
			resp, err := s.client.Do(req)
			if err != nil {
				return err
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), want) {
				return fmt.Errorf("token: %d %s", resp.StatusCode, raw)
			}
			return nil
		}
		sign := func(w int) string { return keys[w].Proof(b, dpoptest.Claims{HTM: http.MethodPost, HTU: tokenURL}) }
		for w := range 20 { // warm up: keys, caches, connections
			if err := grant(""); err != nil {
				b.Fatal(err)
			}
			if err := grant(sign(w % clients)); err != nil {
				b.Fatal(err)
			}
		}
		// proofs[w] are client w's proofs for the next DPoP window.
		perClient := 1500
		proofs := make([][]string, clients)
		prepare := func() {
			var wg sync.WaitGroup
			for w := range clients {
				wg.Go(func() {
					proofs[w] = proofs[w][:0]
					for range perClient {
						proofs[w] = append(proofs[w], sign(w))
					}
				})
			}
			wg.Wait()
		}
		var grants [2]int
		var wall, cpu [2]time.Duration
		window := func(withDPoP bool) {
			side := 0
			if withDPoP {
				side = 1
				prepare()
			}
			var done atomic.Int64
			var wg sync.WaitGroup
			before, _ := pidCPU(b, s.cmd.Process.Pid)
			began := time.Now()
			for w := range clients {
				wg.Go(func() {
					for i := 0; time.Since(began) < grantWindow; i++ {
						proof := ""
						if withDPoP {
							if i < len(proofs[w]) {
								proof = proofs[w][i]
							} else {
								proof = sign(w)
							}
						}
						if err := grant(proof); err != nil {
							b.Error(err)
							return
						}
						done.Add(1)
					}
				})
			}
			wg.Wait()
			wall[side] += time.Since(began)
			after, _ := pidCPU(b, s.cmd.Process.Pid)
			cpu[side] += after - before
			grants[side] += int(done.Load())
			if withDPoP && int(done.Load()) > perClient*clients*9/10 {
				perClient *= 2
			}
		}
		b.ResetTimer()
		for i := range b.N {
			window(i%2 == 0)
			window(i%2 != 0)
			if b.Failed() {
				b.FailNow()
			}
		}
		b.StopTimer()
		bearerRate, dpopRate := float64(grants[0])/wall[0].Seconds(), float64(grants[1])/wall[1].Seconds()
		bearerCPU, dpopCPU := float64(cpu[0])/float64(grants[0])/1e3, float64(cpu[1])/float64(grants[1])/1e3
		b.ReportMetric(bearerRate, "bearer-grants/s")
		b.ReportMetric(dpopRate, "dpop-grants/s")
		b.ReportMetric(dpopRate/bearerRate, "ratio")
		b.ReportMetric(bearerCPU, "bearer-cpu-µs/op")
		b.ReportMetric(dpopCPU, "dpop-cpu-µs/op")
		b.ReportMetric(bearerCPU/dpopCPU, "cpu-ratio")
	})
}
