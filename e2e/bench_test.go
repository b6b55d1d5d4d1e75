package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssKiB reads a process's resident set size from /proc.
func rssKiB(b *testing.B, pid int) float64 {
	b.Helper()
	kib, ok := statusKiB(pid, "VmRSS:")
	if !ok {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/status", pid)); err != nil {
			b.Skipf("no /proc: %v", err)
		}
		b.Fatal("VmRSS not found")
	}
	return kib
}

// anonKiB is a process's anonymous resident memory (0 when it is gone).
func anonKiB(pid int) float64 {
	kib, _ := statusKiB(pid, "RssAnon:")
	return kib
}

// treeRSSKiB is a server's resident memory with its password hashing
// processes': the server's VmRSS and each child's anonymous resident
// memory (RssAnon; their program's pages are the server's, shared).
func treeRSSKiB(b *testing.B, pid int) float64 {
	server, children := treeParts(b, pid)
	return server + children
}

// treeParts are treeRSSKiB's two parts: the server's VmRSS, and its
// children's anonymous memory together.
func treeParts(b *testing.B, pid int) (server, children float64) {
	for _, child := range childPIDs(pid) {
		children += anonKiB(child)
	}
	return rssKiB(b, pid), children
}

// statusKiB reads one "Name: N kB" line of /proc/PID/status; false when
// the process or the line is not there.
func statusKiB(pid int, name string) (float64, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n, err == nil
		}
	}
	return 0, false
}

// benchEnv is the environment without Castellan settings: benchmarks run
// the defaults, including the default argon2id cost.
func benchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASTELLAN_") {
			env = append(env, kv)
		}
	}
	return env
}

// helloServer builds the reference: the smallest Go HTTP server, answering
// /readyz.
func helloServer(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	src := `package main

import "net/http"

func main() {
	http.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	http.ListenAndServe("127.0.0.1:"+os.Args[1], nil)
}
`
	src = strings.Replace(src, `import "net/http"`, "import (\n\t\"net/http\"\n\t\"os\"\n)", 1)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", bin, "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build reference server: %v\n%s", err, out)
	}
	return bin
}

// startAndWait runs a server command and returns the time until /readyz
// answered 200, and the process.
func startAndWait(b *testing.B, cmd *exec.Cmd, readyURL string) (time.Duration, *exec.Cmd) {
	b.Helper()
	began := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for time.Since(began) < 20*time.Second {
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(began), cmd
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	b.Fatal("server not ready within 20s")
	return 0, nil
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
}

// BenchmarkStartToReady measures `castellan start` until /readyz is 200 on
// the embedded SQLite default, against the same for a hello-world Go HTTP
// server, alternating in one loop: each iteration runs a first start (empty
// data directory: schema, first instance, argon2id hash of the
// administrator password at the default cost), a restart on the same
// directory and the reference, the reference first on odd iterations. It
// reports each one's mean in ms and the ratios of the means to the
// reference's.
func BenchmarkStartToReady(b *testing.B) {
	hello := helloServer(b)
	var first, restart, reference time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		port := freePort(b)
		env := append(benchEnv(), "CASTELLAN_DATA_DIR="+dir)
		run := func() time.Duration {
			cmd := exec.Command(binary, "start", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn")
			cmd.Env = env
			d, cmd := startAndWait(b, cmd, fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
			stopProcess(cmd)
			return d
		}
		runReference := func() time.Duration {
			d, cmd := startAndWait(b, exec.Command(hello, strconv.Itoa(port)), fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
			stopProcess(cmd)
			return d
		}
		if i%2 == 1 {
			reference += runReference()
		}
		first += run()
		restart += run()
		if i%2 == 0 {
			reference += runReference()
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
	b.ReportMetric(ms(first), "first-start-ms")
	b.ReportMetric(ms(restart), "restart-ms")
	b.ReportMetric(ms(reference), "reference-ms")
	b.ReportMetric(float64(first)/float64(reference), "first-start-ratio")
	b.ReportMetric(float64(restart)/float64(reference), "restart-ratio")
}

// idleFor is how long BenchmarkIdleMemory leaves a server idle after
// /readyz answered before it reads the resident memory.
const idleFor = 10 * time.Second

// BenchmarkIdleMemory measures the resident memory (VmRSS) of a started,
// idle Castellan on the embedded SQLite default, against a hello-world Go
// HTTP server started at the same moment: each iteration starts Castellan
// on an empty data directory (a first start, which hashes the first
// administrator's password) next to the reference, reads both 2 s and
// idleFor after /readyz answered, then restarts Castellan on the same
// directory and reads it again idleFor after /readyz. It reports the means
// in MiB and the ratio of the first start's to the reference's at idleFor.
// Castellan's memory counts its password hashing processes' (treeRSSKiB).
func BenchmarkIdleMemory(b *testing.B) {
	hello := helloServer(b)
	var firstEarly, first, restart, reference float64
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		port, refPort := freePort(b), freePort(b)
		start := func() *exec.Cmd {
			cmd := exec.Command(binary, "start", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn")
			cmd.Env = append(benchEnv(), "CASTELLAN_DATA_DIR="+dir)
			_, cmd = startAndWait(b, cmd, fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
			return cmd
		}
		_, ref := startAndWait(b, exec.Command(hello, strconv.Itoa(refPort)), fmt.Sprintf("http://127.0.0.1:%d/readyz", refPort))
		cmd := start()
		time.Sleep(2 * time.Second)
		firstEarly += treeRSSKiB(b, cmd.Process.Pid)
		time.Sleep(idleFor - 2*time.Second)
		first += treeRSSKiB(b, cmd.Process.Pid)
		reference += rssKiB(b, ref.Process.Pid)
		stopProcess(ref)
		stopProcess(cmd)

		cmd = start()
		time.Sleep(idleFor)
		restart += treeRSSKiB(b, cmd.Process.Pid)
		stopProcess(cmd)
	}
	mib := func(kib float64) float64 { return kib / 1024 / float64(b.N) }
	b.ReportMetric(mib(firstEarly), "first-start-2s-MiB")
	b.ReportMetric(mib(first), "first-start-MiB")
	b.ReportMetric(mib(restart), "restart-MiB")
	b.ReportMetric(mib(reference), "reference-MiB")
	b.ReportMetric(first/reference, "ratio")
}
