package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// The access benchmarks measure, against a running server on loopback,
// what issue #11 asks of access management: AuthZEN decisions among many
// authorizations (BenchmarkAuthZEN) and the cost of roles in tokens
// (BenchmarkTokensWithRoles, in access_token_bench_test.go). Like the
// provider benchmarks, the server runs on CASTELLAN_BENCH_GOMAXPROCS
// cores (default 1), 8 workers drive it on keep-alive connections, and
// each operation alternates with its reference in the same loop
// (accessWindow each, the order swapped on odd iterations), so that the
// ratio survives a noisy machine.

// accessWindow is each operation's turn in the access benchmarks.
const accessWindow = 3 * time.Second

// accessWorkers is the number of concurrent clients.
const accessWorkers = 8

// benchProcs is the server's GOMAXPROCS: CASTELLAN_BENCH_GOMAXPROCS, default 1.
func benchProcs() string {
	if v := os.Getenv("CASTELLAN_BENCH_GOMAXPROCS"); v != "" {
		return v
	}
	return "1"
}

// api calls the management API and decodes a 200 answer into out.
func (s *signInServer) api(method, path string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if body == nil {
		raw = nil
	}
	if out == nil {
		out = &json.RawMessage{}
	}
	return s.send(method, path, raw, out)
}

// mustAPI is api that ends the benchmark on an error.
func (s *signInServer) mustAPI(b *testing.B, method, path string, body, out any) {
	b.Helper()
	if err := s.api(method, path, body, out); err != nil {
		b.Fatal(err)
	}
}

// myOrganization is the organization of the token's user.
func (s *signInServer) myOrganization(b *testing.B) string {
	var me struct {
		User struct {
			OrganizationID string `json:"organizationId"`
		} `json:"user"`
	}
	s.mustAPI(b, http.MethodGet, "/v1/me", nil, &me)
	return me.User.OrganizationID
}

// parallel runs fn(i) for i in [0, n) on accessWorkers goroutines and
// ends the benchmark on the first error.
func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range accessWorkers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// loadOp is one operation of an alternating load: do sends one request
// (worker w, its n-th) and returns how many units it did.
type loadOp struct {
	name  string
	units string
	do    func(w, n int) (int, error)
	// workers is the number of concurrent clients (accessWorkers when 0);
	// ref is the op its rate is compared with (the last op when nil).
	workers int
	ref     *loadOp

	requests, done int
	wall           time.Duration
	cpu            time.Duration
	latencies      []time.Duration
}

// alternate runs each op for accessWindow from its workers, in turn, b.N
// times (the order reversed on odd iterations), and reports per op its
// units/s, requests' p50 and p99, the server's CPU per request, and the
// ratio of its request rate to its reference's.
func alternate(b *testing.B, s *signInServer, ops ...*loadOp) {
	run := func(op *loadOp) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		cpu, _ := pidCPU(b, s.cmd.Process.Pid)
		began := time.Now()
		workers := op.workers
		if workers == 0 {
			workers = accessWorkers
		}
		for w := range workers {
			wg.Go(func() {
				var lat []time.Duration
				units := 0
				for n := 0; time.Since(began) < accessWindow; n++ {
					t0 := time.Now()
					k, err := op.do(w, n)
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Error(err)
						break
					}
					units += k
				}
				mu.Lock()
				op.latencies = append(op.latencies, lat...)
				op.requests += len(lat)
				op.done += units
				mu.Unlock()
			})
		}
		wg.Wait()
		op.wall += time.Since(began)
		after, _ := pidCPU(b, s.cmd.Process.Pid)
		op.cpu += after - cpu
	}
	b.ResetTimer()
	for i := range b.N {
		order := slices.Clone(ops)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, op := range order {
			run(op)
		}
		if b.Failed() {
			b.FailNow()
		}
	}
	b.StopTimer()
	rate := func(op *loadOp) float64 { return float64(op.requests) / op.wall.Seconds() }
	for _, op := range ops {
		ref := op.ref
		if ref == nil {
			ref = ops[len(ops)-1]
		}
		slices.Sort(op.latencies)
		b.ReportMetric(float64(op.done)/op.wall.Seconds(), op.name+"-"+op.units+"/s")
		b.ReportMetric(float64(op.latencies[len(op.latencies)/2].Microseconds()), op.name+"-p50-µs")
		b.ReportMetric(float64(op.latencies[len(op.latencies)*99/100].Microseconds()), op.name+"-p99-µs")
		b.ReportMetric(float64(op.cpu.Microseconds())/float64(op.requests), op.name+"-cpu-µs/req")
		if op != ref {
			b.ReportMetric(rate(op)/rate(ref), op.name+"/"+ref.name)
		}
	}
}

// send sends a request with the bearer token and decodes a 200 answer
// into out.
func (s *signInServer) send(method, path string, body []byte, out any) error {
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}
