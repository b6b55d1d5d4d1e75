package password

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/password/hashproc"
	"golang.org/x/crypto/argon2"
)

// isolated returns a Hasher whose hashes run in processes of this test
// binary (whose init serves them: the package's init).
func isolated(t testing.TB, p Params, slots int) *Hasher {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHasherWithQueue(p, slots, 64, time.Minute)
	if err := h.Isolate(exe); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// TestIsolatedHashesMatch: keys computed in a hashing process are the
// keys of golang.org/x/crypto/argon2, for other parameters, salts,
// passwords and key lengths, and Hash, Verify and VerifyAny work as in
// the server's own process.
func TestIsolatedHashesMatch(t *testing.T) {
	h := isolated(t, Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2)
	for i, r := range []hashproc.Request{
		{MemoryKiB: 8, Iterations: 1, Parallelism: 1, KeyLen: 32, Salt: []byte("saltsalt"), Password: nil},
		{MemoryKiB: 256, Iterations: 3, Parallelism: 4, KeyLen: 16, Salt: bytes.Repeat([]byte{1}, 64), Password: []byte("pässwörd")},
		{MemoryKiB: 1024, Iterations: 2, Parallelism: 1, KeyLen: 128, Salt: bytes.Repeat([]byte{2}, maxWorkerSalt), Password: bytes.Repeat([]byte("x"), 5000)},
	} {
		got, err := h.workers.derive(r)
		if err != nil {
			t.Fatal(i, err)
		}
		want := argon2.IDKey(r.Password, r.Salt, r.Iterations, r.MemoryKiB, r.Parallelism, uint32(r.KeyLen))
		if !bytes.Equal(got, want) {
			t.Errorf("%d: key %x, want %x", i, got, want)
		}
	}
	ctx := context.Background()
	stored, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	plain := NewHasher(h.params, 1)
	for _, pw := range []string{"correct horse", "correct hors", ""} {
		a, err1 := h.Verify(ctx, pw, stored)
		b, err2 := plain.Verify(ctx, pw, stored)
		if err1 != nil || err2 != nil || a != b || a != (pw == "correct horse") {
			t.Errorf("%q: isolated %v %v, in process %v %v", pw, a, err1, b, err2)
		}
	}
	if ok, upgrade, err := h.VerifyAny(ctx, "correct horse", stored); !ok || upgrade || err != nil {
		t.Errorf("VerifyAny: %v %v %v", ok, upgrade, err)
	}
	if ok, err := h.Verify(ctx, "x", h.TimingHash()); ok || err != nil {
		t.Errorf("timing hash: %v %v", ok, err)
	}
	if n := len(h.workerPIDs()); n < 1 || n > 2 {
		t.Errorf("%d idle hashing processes, want 1 or 2 (the slots)", n)
	}
	if runtime.GOOS == "linux" {
		if thp := procStatus(h.workerPIDs()[0], "THP_enabled:"); thp != "" && thp != "0" {
			t.Errorf("a hashing process may use transparent huge pages (noHugePages)")
		}
	}
}

// TestIsolatedHashesLeaveTheHeap: 8 callers on 2 slots hashing at 8 MiB
// leave the server's heap as it was; in the server's process the same
// grows it by at least one hash's memory.
func TestIsolatedHashesLeaveTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 16 times at 8 MiB")
	}
	p := Params{MemoryKiB: 8 << 10, Iterations: 1, Parallelism: 1}
	h := isolated(t, p, 2)
	stored, err := h.Hash(context.Background(), "a password")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	verifyAtOnce(t, h, "a password", stored, 8, 2)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("16 isolated verifications allocated %d KiB in the server's heap, want under 1 MiB", grew>>10)
	}
	if n := len(h.workerPIDs()); n != 2 {
		t.Errorf("%d idle hashing processes after 8 callers on 2 slots, want 2", n)
	}
}

// TestHashingProcessesStopWhenIdle: once the Hasher has been idle, every
// process ends and a fresh one, which holds no hash's memory, serves the
// next hash.
func TestHashingProcessesStopWhenIdle(t *testing.T) {
	p := Params{MemoryKiB: 16 << 10, Iterations: 1, Parallelism: 1}
	h := isolated(t, p, 2)
	h.idle = 100 * time.Millisecond
	stored, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	verifyAtOnce(t, h, "pw", stored, 2, 1)
	pids := h.workerPIDs()
	if len(pids) != 2 {
		t.Fatalf("%d idle processes after two at once, want 2", len(pids))
	}
	if kib := anonKiB(pids[0]); kib < 16<<10 {
		t.Fatalf("a process holds %d KiB after a hash of 16 MiB", kib)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		kept := h.workerPIDs()
		if len(kept) == 1 && !alive(pids[0]) && !alive(pids[1]) && anonKiB(kept[0]) > 0 && anonKiB(kept[0]) < 4<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle processes %v (of %v), %v KiB, after the hasher was idle; want one fresh, under 4 MiB", kept, pids, func() []int {
				var kib []int
				for _, pid := range kept {
					kib = append(kib, anonKiB(pid))
				}
				return kib
			}())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, err := h.Verify(context.Background(), "pw", stored); !ok || err != nil {
		t.Fatalf("verify after the release: %v %v", ok, err)
	}
	if now := h.workerPIDs(); len(now) != 1 || slices.Contains(pids, now[0]) {
		t.Errorf("processes %v after the release, want the fresh one kept, none of %v", now, pids)
	}
}

// anonKiB is a process's anonymous resident memory (0 when it is gone).
func anonKiB(pid int) int {
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(procStatus(pid, "RssAnon:"), "kB")))
	return n
}

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	fields := procStat(pid)
	return len(fields) > 0 && fields[0] != "Z"
}

// procStat is a process's /proc/PID/stat after its command name (the
// state first), or nil when it is gone.
func procStat(pid int) []string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	return strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
}

// procStatus is the value of one line of /proc/PID/status ("" when the
// process or the line is not there).
func procStatus(pid int, name string) string {
	raw, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestKilledHashingProcessIsReplaced: a process that dies between two
// hashes (killed by an operator, or the kernel's out-of-memory killer)
// costs nothing but a new process.
func TestKilledHashingProcessIsReplaced(t *testing.T) {
	h := isolated(t, Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1)
	stored, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	pids := h.workerPIDs()
	if len(pids) != 1 {
		t.Fatalf("%d idle processes, want 1", len(pids))
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(context.Background(), "pw", stored); !ok || err != nil {
		t.Fatalf("verify after the process was killed: %v %v", ok, err)
	}
	if now := h.workerPIDs(); len(now) != 1 || now[0] == pids[0] {
		t.Errorf("processes %v after %v was killed", now, pids)
	}
}

// TestIsolateRefusesAProgramThatDoesNotHash: a program that is not a
// hashing process of this version leaves the Hasher in its own process.
func TestIsolateRefusesAProgramThatDoesNotHash(t *testing.T) {
	for _, exe := range []string{"/nonexistent/castellan", "/bin/true", "/bin/cat"} {
		h := NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1)
		if err := h.Isolate(exe); err == nil {
			t.Errorf("%s: Isolate succeeded", exe)
		}
		if h.workers != nil {
			t.Errorf("%s: isolated after an error", exe)
		}
	}
}

// TestHashingProcessBounds: a hashing process accepts every request
// within this package's bounds.
func TestHashingProcessBounds(t *testing.T) {
	if maxWorkerSalt != maxStoredLen || hashproc.MaxKeyLen != maxDerivedKeyBytes {
		t.Fatalf("hashproc's bounds (salt %d, key %d) are not this package's (%d, %d)", maxWorkerSalt, hashproc.MaxKeyLen, maxStoredLen, maxDerivedKeyBytes)
	}
}

// BenchmarkIsolatedVerify: a key computed in a hashing process against
// argon2.IDKey called in the test's own process, alternating, at the
// default cost: what the pipe, the process and its collection add.
func BenchmarkIsolatedVerify(b *testing.B) {
	h := isolated(b, OWASP, 1)
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	if _, err := h.idKey([]byte("pw"), salt, OWASP, 32); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var inProcess, inWorker time.Duration
	for range b.N {
		began := time.Now()
		if _, err := h.idKey([]byte("pw"), salt, OWASP, 32); err != nil {
			b.Fatal(err)
		}
		inWorker += time.Since(began)
		began = time.Now()
		argon2.IDKey([]byte("pw"), salt, OWASP.Iterations, OWASP.MemoryKiB, OWASP.Parallelism, 32)
		inProcess += time.Since(began)
	}
	b.ReportMetric(float64(inWorker.Microseconds())/float64(b.N)/1000, "ms/isolated")
	b.ReportMetric(float64(inProcess.Microseconds())/float64(b.N)/1000, "ms/in-process")
}

// node is a piece of a live heap: pointers for the collector to follow.
type node struct {
	next    *node
	payload [48]byte
}

// BenchmarkVerifyBesideLiveHeap measures the CPU of a verification, at the
// default cost, in a process that holds a live heap of 8 or 128 MiB (a
// server's caches, read models and connections): in the server's process,
// where each hash is preceded by a collection of the whole heap (collect),
// against an Isolated Hasher, whose processes' CPU is counted too;
// alternating, 4 verifications on 2 slots per turn.
func BenchmarkVerifyBesideLiveHeap(b *testing.B) {
	for _, mib := range []int{8, 128} {
		b.Run(strconv.Itoa(mib)+"MiB", func(b *testing.B) {
			var live *node
			for range mib << 20 / 64 {
				live = &node{next: live, payload: [48]byte{byte(len(live.payload))}}
			}
			iso, plain := isolated(b, OWASP, 2), NewHasher(OWASP, 2)
			stored, err := plain.Hash(context.Background(), "pw")
			if err != nil {
				b.Fatal(err)
			}
			run := func(h *Hasher) time.Duration {
				before := selfAndWorkersCPU(b, h)
				verifyAtOnce(b, h, "pw", stored, 2, 2)
				return selfAndWorkersCPU(b, h) - before
			}
			run(iso)
			var isoCPU, plainCPU time.Duration
			b.ResetTimer()
			for range b.N {
				isoCPU += run(iso)
				plainCPU += run(plain)
			}
			runtime.KeepAlive(live)
			n := float64(4 * b.N)
			b.ReportMetric(float64(isoCPU.Microseconds())/n/1000, "cpu-ms/isolated")
			b.ReportMetric(float64(plainCPU.Microseconds())/n/1000, "cpu-ms/in-process")
		})
	}
}

// selfAndWorkersCPU is this process's CPU time and that of h's idle
// hashing processes (all of them, between turns).
func selfAndWorkersCPU(b *testing.B, h *Hasher) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for _, pid := range h.workerPIDs() {
		f := procStat(pid)
		if f == nil {
			b.Skip("no /proc")
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(u+s) * 10 * time.Millisecond
	}
	return total
}

// verifyAtOnce has callers goroutines verify pw against stored each times
// over, all at once, and fails unless every verification matched.
func verifyAtOnce(t testing.TB, h *Hasher, pw, stored string, callers, each int) {
	t.Helper()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				if ok, err := h.Verify(context.Background(), pw, stored); !ok || err != nil {
					t.Errorf("verify: %v %v", ok, err)
				}
			}
		})
	}
	wg.Wait()
}

// workerPIDs lists h's idle hashing processes.
func (h *Hasher) workerPIDs() []int {
	if h.workers == nil {
		return nil
	}
	h.workers.mu.Lock()
	defer h.workers.mu.Unlock()
	var pids []int
	for _, w := range h.workers.idle {
		pids = append(pids, w.cmd.Process.Pid)
	}
	return pids
}

// TestStuckHashingProcessIsKilled: a process that does not answer within
// workerTimeout is killed, and the hash fails rather than hold its slot.
func TestStuckHashingProcessIsKilled(t *testing.T) {
	h := isolated(t, Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1)
	defer func(d time.Duration) { workerTimeout = d }(workerTimeout)
	workerTimeout = 20 * time.Millisecond
	began := time.Now()
	// A hash at the bounds takes seconds: past the timeout, twice.
	_, err := h.idKey([]byte("pw"), []byte("saltsalt"), Params{MemoryKiB: MaxParams.MemoryKiB, Iterations: MaxParams.Iterations, Parallelism: 1}, 32)
	if err == nil || time.Since(began) > 2*time.Second {
		t.Fatalf("a hash past the timeout: %v after %v", err, time.Since(began))
	}
	workerTimeout = time.Minute
	if _, err := h.idKey([]byte("pw"), []byte("saltsalt"), h.params, 32); err != nil {
		t.Fatalf("the next hash: %v", err)
	}
}
