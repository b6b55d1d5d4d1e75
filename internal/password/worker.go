package password

import (
	"crypto/subtle"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/password/hashproc"
	"golang.org/x/crypto/argon2"
)

// Hashing processes. An argon2id hash allocates its whole memory (19 MiB
// at the default cost) at once, and golang.org/x/crypto/argon2 takes no
// buffer: every hash makes a fresh one. In the server's heap that memory
// is garbage the moment the hash is done, and only a collection of the
// whole heap reclaims it — one per sign-in (collect), which marks
// everything the server holds and made a tenth of a sign-in's CPU, on top
// of the page faults of memory the runtime handed back between hashes.
// No maintained Go argon2 library takes a caller's buffer, and a
// hand-written one without x/crypto's assembly is 30 to 50% slower.
//
// So a Hasher made Isolated computes argon2id in helper processes: the
// running binary started again with hashproc.Env set, which package
// hashproc's init turns into a loop of hashes (hashproc.Serve) before the
// program's main runs (only the few packages Go initializes before
// hashproc run first: see its doc). Each slot uses at most
// one such process at a time; a process computes one hash at a time,
// keeps its one argon2id memory between hashes (its collector is off and
// it collects after each hash, so the next hash reuses the same pages and
// nothing is handed back to the system), and exits when its input closes.
// Once the Hasher has been idle for idleBeforeRelease, every process ends
// and a fresh one takes their place (about 1.5 MiB: it has not hashed), so
// that a sign-in after a quiet minute does not wait for a process to
// start; all end when the server exits. The server's heap never holds a hash's
// memory, so it needs no collection per sign-in, and the hashes' memory is
// slots × memory_kib plus about 1.5 MiB per process, whatever the heap
// around it does.
//
// The processes get the password, the salt and the parameters over a
// pipe and answer the key; the comparison with the stored key stays in
// the server (constant time). They inherit no environment but GOMAXPROCS
// (no database address, no keys), and their standard error is the
// server's. A process that fails is killed and the hash tried once more in
// a fresh one; hashes of imported formats other than argon2id (bcrypt,
// scrypt, PBKDF2, SHA-crypt, argon2i/d) stay in the server.

// Bounds of one request to a hashing process; a hash whose password or
// salt is longer is computed in the server instead.
const (
	maxWorkerPassword = hashproc.MaxPassword
	maxWorkerSalt     = hashproc.MaxSalt
)

// worker is a running hashing process.
type worker struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.ReadCloser
	req  []byte
	done chan struct{}
	// fresh: the process has not hashed since it started, so holds no
	// hash's memory.
	fresh bool
}

func startWorker(exe string) (*worker, error) {
	cmd := exec.Command(exe)
	cmd.Env = hashproc.Environ()
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("password: start a hashing process: %w", err)
	}
	w := &worker{cmd: cmd, in: in, out: out, done: make(chan struct{}), fresh: true}
	go func() {
		_ = cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// derive sends one request and reads its key.
func (w *worker) derive(r hashproc.Request) ([]byte, error) {
	w.req = hashproc.AppendRequest(w.req[:0], r)
	_, err := w.in.Write(w.req)
	clear(w.req)
	if err != nil {
		return nil, fmt.Errorf("password: hashing process: %w", err)
	}
	w.deadline()
	key := make([]byte, r.KeyLen)
	if _, err := io.ReadFull(w.out, key); err != nil {
		return nil, fmt.Errorf("password: hashing process: %w", err)
	}
	w.fresh = false
	return key, nil
}

// workerTimeout bounds how long a process may take to answer: a hash at
// MaxParams takes about 3 s of a core, so a process silent for this long
// is stuck, and killed, rather than holding its slot for ever.
var workerTimeout = 2 * time.Minute

// deadline bounds the next read of the process's answer (workerTimeout).
func (w *worker) deadline() {
	if f, ok := w.out.(*os.File); ok {
		_ = f.SetReadDeadline(time.Now().Add(workerTimeout))
	}
}

// stop ends the process: closing its input makes it exit.
func (w *worker) stop() { _ = w.in.Close() }

// kill ends a process that failed.
func (w *worker) kill() {
	_ = w.cmd.Process.Kill()
	_ = w.in.Close()
}

// workers is an Isolated Hasher's idle hashing processes.
type workers struct {
	exe string
	// max is the Hasher's slots: more idle processes are stopped.
	max  int
	mu   sync.Mutex
	idle []*worker
}

// take returns an idle process, or starts one.
func (ws *workers) take() (*worker, error) {
	ws.mu.Lock()
	if n := len(ws.idle); n > 0 {
		w := ws.idle[n-1]
		ws.idle = ws.idle[:n-1]
		ws.mu.Unlock()
		return w, nil
	}
	ws.mu.Unlock()
	return startWorker(ws.exe)
}

func (ws *workers) put(w *worker) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if len(ws.idle) >= ws.max {
		w.stop() // one started for a hash outside the slots (TimingHash)
		return
	}
	ws.idle = append(ws.idle, w)
}

// stopIdle ends every idle process; it reports whether there were any.
func (ws *workers) stopIdle() bool {
	ws.mu.Lock()
	idle := ws.idle
	ws.idle = nil
	ws.mu.Unlock()
	for _, w := range idle {
		w.stop()
	}
	return len(idle) > 0
}

// holdsMemory reports whether an idle process holds a hash's memory, or
// more than one is idle: what release would give back.
func (ws *workers) holdsMemory() bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.idle) > 1 || len(ws.idle) == 1 && !ws.idle[0].fresh
}

// release ends every idle process and keeps a fresh one in their place,
// which holds no hash's memory (about 1.5 MiB), so that the next sign-in
// does not wait for a process to start (a few milliseconds: package
// hashproc's doc). It reports whether anything was given back. A process
// could hand its memory back in place only through runtime/debug, which
// hashproc does not import (its doc says why).
func (ws *workers) release() bool {
	ws.mu.Lock()
	idle := ws.idle
	ws.idle = nil
	if len(idle) == 1 && idle[0].fresh {
		ws.idle = idle
		idle = nil
	}
	ws.mu.Unlock()
	if len(idle) == 0 {
		return false
	}
	for _, w := range idle {
		w.stop()
	}
	if w, err := startWorker(ws.exe); err == nil {
		ws.put(w)
	}
	return true
}

// derive computes r in an idle or new process; a process that fails is
// killed and the request tried once more in a new one.
func (ws *workers) derive(r hashproc.Request) ([]byte, error) {
	var err error
	for range 2 {
		var w *worker
		if w, err = ws.take(); err != nil {
			return nil, err
		}
		var key []byte
		if key, err = w.derive(r); err == nil {
			ws.put(w)
			return key, nil
		}
		w.kill()
	}
	return nil, err
}

// Executable is the program to start as a hashing process: the running
// binary.
func Executable() (string, error) {
	if runtime.GOOS == "linux" {
		// The running program even when its file was replaced since.
		return "/proc/self/exe", nil
	}
	return os.Executable()
}

// Isolate makes h compute argon2id hashes in hashing processes started
// from exe (Executable), after checking that exe answers a small hash as
// this process computes it. On error h keeps hashing in its own process.
func (h *Hasher) Isolate(exe string) error {
	ws := &workers{exe: exe, max: cap(h.slots)}
	r := hashproc.Request{MemoryKiB: 8, Iterations: 1, Parallelism: 1, KeyLen: keyLen,
		Salt: []byte("a salt of sixteen"), Password: []byte("a password")}
	got, err := ws.derive(r)
	ws.stopIdle()
	if err != nil {
		return err
	}
	if want := argon2.IDKey(r.Password, r.Salt, 1, 8, 1, keyLen); subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("password: %s is not a hashing process of this version", exe)
	}
	h.workers = ws
	return nil
}

// idKey is argon2id of password and salt at p, keyLen bytes: in a hashing
// process when h is isolated (Isolate) and the request fits one, else
// here.
func (h *Hasher) idKey(password, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	if h.workers == nil || len(password) > maxWorkerPassword || len(salt) > maxWorkerSalt || keyLen > maxDerivedKeyBytes {
		return argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen), nil
	}
	return h.workers.derive(hashproc.Request{MemoryKiB: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism,
		KeyLen: uint8(keyLen), Salt: salt, Password: password})
}

// Close ends h's idle hashing processes (they also end with the server).
func (h *Hasher) Close() {
	if h.workers != nil {
		h.workers.stopIdle()
	}
}
