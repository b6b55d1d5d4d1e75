package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/sys/unix"

	"github.com/castellan-iam/castellan/internal/config"
	"github.com/castellan-iam/castellan/internal/pairbench"
	"github.com/castellan-iam/castellan/internal/password"
)

// The password sign-in benchmarks run the real binary with the default
// configuration (argon2id at its default cost) and sign its first
// administrator in through the Session API over REST, with an owner token
// (the way a login UI calls it). Their reference is raw argon2id at the
// same parameters in a child process: this test binary started again with
// argon2ChildEnv set, which init turns into a loop of verifications
// (argon2Reference) before TestMain builds anything.
//
// Why a child process and not the benchmark's own goroutines: the server
// runs with GOMAXPROCS=1 in a process of its own, with its own heap and
// garbage collector; the reference gets the same (GOMAXPROCS=1, default
// GOGC, a process that does nothing else), the same argon2 code
// (golang.org/x/crypto/argon2 compiled by the same Go into this binary),
// the same parameters and the same 32-byte key. The benchmark's process,
// by contrast, runs the load generator and its HTTP client, whose
// goroutines and garbage would share the reference's core and heap. What
// the reference leaves out is exactly Castellan's part of a sign-in: HTTP,
// JSON, the token, the permission, the user's look-up, its events, the
// admission queue, the session's events and token.

const argon2ChildEnv = "CASTELLAN_E2E_ARGON2_REFERENCE"

func init() {
	if spec := os.Getenv(argon2ChildEnv); spec != "" {
		if err := argon2Reference(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// argon2Reference verifies a password against an argon2id key with the
// parameters in spec ("m,t,p"), on command: a line "N" runs N
// verifications, a line "for D" runs them for the duration D; each answers
// "count wall-ns cpu-ns minor-page-faults".
func argon2Reference(spec string, in io.Reader, out io.Writer) error {
	var m, t, p uint32
	if _, err := fmt.Sscanf(spec, "%d,%d,%d", &m, &t, &p); err != nil {
		return fmt.Errorf("%s=%q: %v", argon2ChildEnv, spec, err)
	}
	pw, salt := []byte("a password of twenty"), make([]byte, 16)
	_, _ = rand.Read(salt)
	want := argon2.IDKey(pw, salt, t, m, uint8(p), 32)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var n int
		var d time.Duration
		var err error
		if s, ok := strings.CutPrefix(sc.Text(), "for "); ok {
			d, err = time.ParseDuration(s)
		} else {
			n, err = strconv.Atoi(sc.Text())
		}
		if err != nil {
			return err
		}
		began, cpu, faults := time.Now(), processCPU(), processFaults()
		count := 0
		for (n > 0 && count < n) || (d > 0 && time.Since(began) < d) {
			if subtle.ConstantTimeCompare(argon2.IDKey(pw, salt, t, m, uint8(p), 32), want) != 1 {
				return fmt.Errorf("the reference key did not match")
			}
			count++
		}
		fmt.Fprintf(out, "%d %d %d %d\n", count, time.Since(began), processCPU()-cpu, processFaults()-faults)
	}
	return sc.Err()
}

// processCPU is the calling process's user and system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processFaults is the calling process's minor page faults: pages of
// memory it touched for the first time since the kernel gave them.
func processFaults() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

// pidCPU is another process's user and system time, from /proc (in clock
// ticks of 10 ms), and its minor page faults, with those of its children:
// the running ones (the server's password hashing processes) and the ones
// it waited for.
func pidCPU(b *testing.B, pid int) (time.Duration, int64) {
	own, children, faults := pidCPUSplit(b, pid)
	return own + children, faults
}

// pidCPUSplit is pidCPU with the process's own time apart from its
// children's.
func pidCPUSplit(b *testing.B, pid int) (own, children time.Duration, faults int64) {
	b.Helper()
	fields := procStat(b, pid)
	var ownTicks, ticks int64
	for _, i := range []int{11, 12} {
		n, _ := strconv.ParseInt(fields[i], 10, 64)
		ownTicks += n
	}
	for _, i := range []int{13, 14} { // cutime, cstime: children waited for
		n, _ := strconv.ParseInt(fields[i], 10, 64)
		ticks += n
	}
	minflt, _ := strconv.ParseInt(fields[7], 10, 64)
	cminflt, _ := strconv.ParseInt(fields[8], 10, 64)
	faults += minflt + cminflt
	for _, child := range childPIDs(pid) {
		f := procStat(b, child)
		if f == nil {
			continue // ended since: counted in cutime from now on
		}
		for _, i := range []int{11, 12} {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
		n, _ := strconv.ParseInt(f[7], 10, 64)
		faults += n
	}
	return time.Duration(ownTicks) * 10 * time.Millisecond, time.Duration(ticks) * 10 * time.Millisecond, faults
}

// pinToCPU binds every thread of a running process to one CPU; threads
// and processes it starts later inherit the binding. The sign-in
// benchmark's "one core" then holds the server and its password hashing
// processes, as GOMAXPROCS=1 alone does not.
func pinToCPU(b *testing.B, pid, cpu int) {
	b.Helper()
	var set unix.CPUSet
	set.Set(cpu)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, t := range tasks {
		tid, err := strconv.Atoi(filepath.Base(t))
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			b.Skipf("cannot bind to a CPU: %v", err)
		}
	}
}

// procStat is a process's /proc/PID/stat after its command name (field 3
// of proc(5) is the first), or nil when the process is gone.
func procStat(b *testing.B, pid int) []string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if pid == os.Getpid() || !os.IsNotExist(err) {
			b.Skipf("no /proc: %v", err)
		}
		return nil
	}
	// The command name may hold spaces; the fields after it do not.
	return strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
}

// childPIDs lists a process's running children, from every thread's
// /proc/PID/task/TID/children.
func childPIDs(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var pids []int
	for _, t := range tasks {
		raw, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(raw)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// defaultArgon2 is the configuration's default argon2id cost, the one the
// benchmarks' servers run.
func defaultArgon2(b *testing.B) password.Params {
	cfg, err := config.Load(nil, func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	a := cfg.Passwords.Argon2id
	return password.Params{MemoryKiB: a.MemoryKiB, Iterations: a.Iterations, Parallelism: a.Parallelism}
}

// argon2Child is a running reference process.
type argon2Child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startArgon2Child(b *testing.B, p password.Params) *argon2Child {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d,%d", argon2ChildEnv, p.MemoryKiB, p.Iterations, p.Parallelism), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &argon2Child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	b.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	return c
}

// run sends one command and returns the verifications done, their wall
// time, the child's CPU time and its minor page faults.
func (c *argon2Child) run(b *testing.B, command string) (int, time.Duration, time.Duration, int64) {
	if _, err := fmt.Fprintln(c.in, command); err != nil {
		b.Fatal(err)
	}
	if !c.out.Scan() {
		b.Fatalf("the argon2id reference stopped: %v", c.out.Err())
	}
	var n int
	var wall, cpu time.Duration
	var faults int64
	if _, err := fmt.Sscanf(c.out.Text(), "%d %d %d %d", &n, &wall, &cpu, &faults); err != nil {
		b.Fatal(err)
	}
	return n, wall, cpu, faults
}

// signInServer is a started Castellan with its first administrator's
// credentials and an owner token.
type signInServer struct {
	*proc
	login, password, token string
	client                 *http.Client
}

// benchBinaryEnv in a benchmark server's environment names another
// build of castellan to start instead of this tree's (it is not passed
// on): BenchmarkPasswordSessions measures the build named by
// CASTELLAN_BENCH_BASE_BINARY as one more side, in the same loop.
const benchBinaryEnv = "BENCH_BINARY"

// launchBench starts `castellan start` on a free port with the
// environment env (which replaces the test's own) and the log at warn;
// the caller waits for it.
func launchBench(b *testing.B, env []string) *proc {
	b.Helper()
	port := freePort(b)
	p := &proc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, url: fmt.Sprintf("http://localhost:%d", port), done: make(chan error, 1),
		client: http.DefaultClient}
	bin := binary
	env = slices.DeleteFunc(slices.Clone(env), func(e string) bool {
		v, ok := strings.CutPrefix(e, benchBinaryEnv+"=")
		if ok {
			bin = v
		}
		return ok
	})
	p.cmd = exec.Command(bin, "start", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn")
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	b.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// startSignInServer starts Castellan on an empty data directory with the
// default configuration (benchEnv) and env added.
func startSignInServer(b *testing.B, env ...string) *signInServer {
	b.Helper()
	dir := b.TempDir()
	env = append([]string{"CASTELLAN_DATA_DIR=" + dir}, env...)
	p := launchBench(b, append(benchEnv(), env...))
	p.waitReady(b)
	notice := firstStartLines(p.waitStdout(b, "Password:"))
	token, stderr, err := castellan(b, env, "tokens", "create", notice["Administrator"], "1h")
	if err != nil {
		b.Fatalf("tokens create: %v\n%s", err, stderr)
	}
	s := &signInServer{proc: p, login: notice["Administrator"], password: notice["Password"], token: strings.TrimSpace(token),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}}
	b.Cleanup(s.client.CloseIdleConnections)
	return s
}

// timedCall is one timed call.
type timedCall struct {
	status     int
	retryAfter string
	took       time.Duration
	body       []byte
}

func (s *signInServer) call(b *testing.B, method, path string, body any) timedCall {
	payload, err := json.Marshal(body)
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(payload))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	began := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		b.Error(err)
		return timedCall{}
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Error(err)
	}
	return timedCall{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(began), body: out}
}

// signIn creates a session with the administrator's login name and
// password.
func (s *signInServer) signIn(b *testing.B) timedCall {
	return s.call(b, http.MethodPost, "/v1/sessions", map[string]any{"checks": map[string]any{
		"user": map[string]any{"loginName": s.login}, "password": map[string]any{"password": s.password}}})
}

func (s *signInServer) mustSignIn(b *testing.B) timedCall {
	r := s.signIn(b)
	if r.status != http.StatusOK {
		b.Fatalf("create session: %d %s", r.status, r.body)
	}
	return r
}

// sessionWindow is the length of each side's turn in
// BenchmarkPasswordSessions.
const sessionWindow = 3 * time.Second

// BenchmarkPasswordSessions measures password sign-ins per second of a
// server on one core (GOMAXPROCS=1, the server and its password hashing
// processes bound to one CPU) against raw argon2id verifications per
// second on the same CPU at the same parameters, alternately: per
// iteration, sessionWindow of sign-ins from 4 concurrent clients (enough
// to keep the server's hashing slots busy: it runs
// passwords.max_concurrent = the number of CPUs), then the same against a
// second server that hashes in its own process (passwords.isolated=false),
// then sessionWindow of the reference (argon2Child); the order turns by
// one each iteration. It reports the rates, the ratio (sessions/s over
// verifications/s, 1 when Castellan adds nothing), Castellan's overhead
// in percent, and the same from CPU time: the server's CPU time (its
// hashing processes' included) per session over the reference's per
// verification (/proc and getrusage), which the other work on a shared
// machine disturbs less than wall time. The in-process server's figures
// carry the suffix "-in-process". With CASTELLAN_BENCH_BASE_BINARY set to
// another build of castellan, a third server runs that build with the
// default configuration in the same loop (suffix "-base"): a change
// measured against the build before it.
func BenchmarkPasswordSessions(b *testing.B) {
	params := defaultArgon2(b)
	type side struct {
		server    *signInServer
		suffix    string
		sessions  int
		wall, cpu time.Duration
		own       time.Duration // the server process's alone
		faults    int64
	}
	cpu := runtime.NumCPU() - 1
	sides := []*side{
		{server: startSignInServer(b, "GOMAXPROCS=1", "CASTELLAN_PASSWORDS_MAX_CONCURRENT=1")},
		{server: startSignInServer(b, "GOMAXPROCS=1", "CASTELLAN_PASSWORDS_MAX_CONCURRENT=1", "CASTELLAN_PASSWORDS_ISOLATED=false"), suffix: "-in-process"},
	}
	if base := os.Getenv("CASTELLAN_BENCH_BASE_BINARY"); base != "" {
		sides = append(sides, &side{server: startSignInServer(b, benchBinaryEnv+"="+base, "GOMAXPROCS=1", "CASTELLAN_PASSWORDS_MAX_CONCURRENT=1"), suffix: "-base"})
	}
	ref := startArgon2Child(b, params)
	pinToCPU(b, ref.cmd.Process.Pid, cpu)
	for _, sd := range sides {
		pinToCPU(b, sd.server.cmd.Process.Pid, cpu)
		for range 5 { // warm up: the timing hash, the caches
			sd.server.mustSignIn(b)
		}
	}
	ref.run(b, "5")
	const clients = 4
	var verifications int
	var refWall, refCPU time.Duration
	var refFaults int64
	runSessions := func(sd *side) {
		s := sd.server
		var done atomic.Int64
		var wg sync.WaitGroup
		own, cpu, faults := pidCPUSplit(b, s.cmd.Process.Pid)
		began := time.Now()
		for range clients {
			wg.Go(func() {
				for time.Since(began) < sessionWindow {
					if r := s.signIn(b); r.status != http.StatusOK {
						b.Errorf("create session: %d %s", r.status, r.body)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		sd.wall += time.Since(began)
		ownAfter, cpuAfter, faultsAfter := pidCPUSplit(b, s.cmd.Process.Pid)
		sd.own += ownAfter - own
		sd.cpu += ownAfter + cpuAfter - own - cpu
		sd.faults += faultsAfter - faults
		sd.sessions += int(done.Load())
	}
	runReference := func() {
		n, wall, cpu, faults := ref.run(b, "for "+sessionWindow.String())
		verifications += n
		refWall += wall
		refCPU += cpu
		refFaults += faults
	}
	turns := []func(){runReference}
	for _, sd := range sides {
		turns = append(turns, func() { runSessions(sd) })
	}
	b.ResetTimer()
	for i := range b.N {
		for k := range turns {
			turns[(i+k)%len(turns)]()
		}
		if b.Failed() {
			b.FailNow()
		}
	}
	b.StopTimer()
	refRate := float64(verifications) / refWall.Seconds()
	perVerification := float64(refCPU) / float64(verifications) / 1e6
	b.ReportMetric(refRate, "argon2id/s")
	b.ReportMetric(perVerification, "cpu-ms/argon2id")
	b.ReportMetric(float64(refFaults)/float64(verifications), "faults/argon2id")
	for _, sd := range sides {
		rate := float64(sd.sessions) / sd.wall.Seconds()
		perSession := float64(sd.cpu) / float64(sd.sessions) / 1e6
		b.ReportMetric(rate, "sessions/s"+sd.suffix)
		b.ReportMetric(rate/refRate, "ratio"+sd.suffix)
		b.ReportMetric((refRate/rate-1)*100, "overhead-%"+sd.suffix)
		b.ReportMetric(perSession, "cpu-ms/session"+sd.suffix)
		b.ReportMetric(float64(sd.own)/float64(sd.sessions)/1e6, "cpu-ms/session-server"+sd.suffix)
		b.ReportMetric((perSession/perVerification-1)*100, "cpu-overhead-%"+sd.suffix)
		b.ReportMetric(float64(sd.faults)/float64(sd.sessions), "faults/session"+sd.suffix)
	}
}

// BenchmarkPasswordSessionLatency measures one client creating sessions
// with a password, one after the other, against one raw argon2id
// verification at the same parameters in the reference process,
// alternately (pairbench.Alternate): sides create and argon2id. The
// server runs the default configuration on all cores.
func BenchmarkPasswordSessionLatency(b *testing.B) {
	s := startSignInServer(b)
	ref := startArgon2Child(b, defaultArgon2(b))
	for range 5 {
		s.mustSignIn(b)
	}
	pairbench.Alternate(b, "create", func(int) error {
		if r := s.signIn(b); r.status != http.StatusOK {
			return fmt.Errorf("create session: %d %s", r.status, r.body)
		}
		return nil
	}, "argon2id", func(int) error {
		ref.run(b, "1")
		return nil
	})
}
