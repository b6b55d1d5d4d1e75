package password

import (
	"bufio"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

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
// running binary started again with workerEnv set, which this package's
// init turns into a loop of hashes (serveWorker) before the program's main
// runs (the packages Go initializes before this one are initialized
// first: 40 ms and more of a core at each start). Each slot uses at most
// one such process at a time; a process computes one hash at a time,
// keeps its one argon2id memory between hashes (its collector is off and
// it collects after each hash, so the next hash reuses the same pages and
// nothing is handed back to the system), and exits when its input closes.
// Once the Hasher has been idle for idleBeforeRelease, every process ends
// but one, which hands its memory back and stays (about 5 MiB), so that a
// sign-in after a quiet minute does not wait for a process to start; all
// end when the server exits. The server's heap never holds a hash's
// memory, so it needs no collection per sign-in, and the hashes' memory is
// slots × memory_kib plus about 5 MiB per process, whatever the heap
// around it does.
//
// The processes get the password, the salt and the parameters over a
// pipe and answer the key; the comparison with the stored key stays in
// the server (constant time). They inherit no environment but GOMAXPROCS
// (no database address, no keys), and their standard error is the
// server's. A process that fails is killed and the hash tried once more in
// a fresh one; hashes of imported formats other than argon2id (bcrypt,
// scrypt, PBKDF2, SHA-crypt, argon2i/d) stay in the server.

// workerEnv, set to workerProtocol, makes a program that links this
// package a hashing process.
const (
	workerEnv      = "CASTELLAN_PASSWORD_WORKER"
	workerProtocol = "1"
)

func init() {
	if os.Getenv(workerEnv) == workerProtocol {
		// The collector is off (GOGC=off in the environment, set again
		// here) and runs after each hash: the hash's memory becomes free
		// pages of the heap, which no scavenger hands back (it keeps
		// memory for a heap goal, and there is none), and the next hash
		// reuses them.
		debug.SetGCPercent(-1)
		noHugePages()
		// The program's other packages were initialized before this one
		// (Go initializes every package that is ready and sorts before
		// it): hand their memory back before the first hash.
		debug.FreeOSMemory()
		if err := serveWorker(os.Stdin, os.Stdout, runtime.GC, debug.FreeOSMemory); err != nil {
			fmt.Fprintln(os.Stderr, "password hashing process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// Bounds of one request to a hashing process; a hash whose password or
// salt is longer is computed in the server instead.
const (
	maxWorkerPassword = 64 << 10
	maxWorkerSalt     = maxStoredLen
	workerHeaderLen   = 4 + 4 + 1 + 1 + 2 + 4
)

// workerRequest is one hash: argon2id of password and salt at params,
// keyLen bytes long; or, when release is set (a header of zeros), an order
// to hand the process's memory back to the system, answered with one byte.
type workerRequest struct {
	params   Params
	keyLen   uint8
	salt     []byte
	password []byte
	release  bool
}

// errWorkerRequest is a request a hashing process refuses.
var errWorkerRequest = errors.New("malformed hash request")

// appendRequest encodes r: memory, iterations (little-endian uint32),
// parallelism, key length, salt length (uint16), password length
// (uint32), the salt, the password.
func appendRequest(b []byte, r workerRequest) []byte {
	b = binary.LittleEndian.AppendUint32(b, r.params.MemoryKiB)
	b = binary.LittleEndian.AppendUint32(b, r.params.Iterations)
	b = append(b, r.params.Parallelism, r.keyLen)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.salt)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.password)))
	b = append(b, r.salt...)
	return append(b, r.password...)
}

// readRequest reads one request from in into buf (reused between
// requests), checking every field against MaxParams and the bounds above
// before it reads the variable parts. io.EOF before the first byte means
// the server closed the pipe.
func readRequest(in io.Reader, buf []byte) (workerRequest, []byte, error) {
	var h [workerHeaderLen]byte
	if _, err := io.ReadFull(in, h[:]); err != nil {
		return workerRequest{}, buf, err
	}
	r := workerRequest{params: Params{
		MemoryKiB:   binary.LittleEndian.Uint32(h[0:]),
		Iterations:  binary.LittleEndian.Uint32(h[4:]),
		Parallelism: h[8],
	}, keyLen: h[9]}
	saltLen, pwLen := int(binary.LittleEndian.Uint16(h[10:])), int(binary.LittleEndian.Uint32(h[12:]))
	if h == [workerHeaderLen]byte{} {
		return workerRequest{release: true}, buf, nil
	}
	p := r.params
	switch {
	case p.Iterations < 1 || p.Iterations > MaxParams.Iterations,
		p.Parallelism < 1 || p.Parallelism > MaxParams.Parallelism,
		p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > MaxParams.MemoryKiB,
		r.keyLen < 4 || int(r.keyLen) > maxDerivedKeyBytes,
		saltLen > maxWorkerSalt, pwLen > maxWorkerPassword:
		return workerRequest{}, buf, errWorkerRequest
	}
	n := saltLen + pwLen
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(in, buf); err != nil {
		return workerRequest{}, buf, io.ErrUnexpectedEOF
	}
	r.salt, r.password = buf[:saltLen], buf[saltLen:]
	return r, buf, nil
}

// serveWorker answers hash requests from in on out until in ends, calling
// afterHash after each answer, and release for a release request.
func serveWorker(in io.Reader, out io.Writer, afterHash, release func()) error {
	r, w := bufio.NewReader(in), bufio.NewWriter(out)
	var buf []byte
	for {
		req, next, err := readRequest(r, buf)
		buf = next
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if req.release {
			release()
			if err := errors.Join(w.WriteByte(0), w.Flush()); err != nil {
				return err
			}
			continue
		}
		p := req.params
		key := argon2.IDKey(req.password, req.salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(req.keyLen))
		clear(buf)
		if _, err := w.Write(key); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		afterHash()
	}
}

// worker is a running hashing process.
type worker struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.ReadCloser
	req  []byte
	done chan struct{}
	// released: the process handed its memory back since its last hash.
	released bool
}

// workerEnviron is a hashing process's whole environment.
func workerEnviron() []string {
	env := []string{workerEnv + "=" + workerProtocol, "GOGC=off"}
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		env = append(env, "GOMAXPROCS="+v)
	}
	return env
}

func startWorker(exe string) (*worker, error) {
	cmd := exec.Command(exe)
	cmd.Env = workerEnviron()
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
	w := &worker{cmd: cmd, in: in, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(w.done)
	}()
	return w, nil
}

// derive sends one request and reads its key.
func (w *worker) derive(r workerRequest) ([]byte, error) {
	w.req = appendRequest(w.req[:0], r)
	_, err := w.in.Write(w.req)
	clear(w.req)
	if err != nil {
		return nil, fmt.Errorf("password: hashing process: %w", err)
	}
	w.deadline()
	key := make([]byte, r.keyLen)
	if _, err := io.ReadFull(w.out, key); err != nil {
		return nil, fmt.Errorf("password: hashing process: %w", err)
	}
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

// release asks the process to hand its memory back to the system.
func (w *worker) release() error {
	var zero [workerHeaderLen]byte
	if _, err := w.in.Write(zero[:]); err != nil {
		return err
	}
	w.deadline()
	var ack [1]byte
	_, err := io.ReadFull(w.out, ack[:])
	return err
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
		w.released = false
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
	return len(ws.idle) > 1 || len(ws.idle) == 1 && !ws.idle[0].released
}

// release ends every idle process but one, which hands its memory back
// and stays, so that the next sign-in does not wait for a process to
// start (the binary's packages are initialized first: 40 ms and more);
// that process keeps about 5 MiB. It reports whether anything was given
// back.
func (ws *workers) release() bool {
	ws.mu.Lock()
	idle := ws.idle
	ws.idle = nil
	ws.mu.Unlock()
	if len(idle) == 0 {
		return false
	}
	for _, w := range idle[1:] {
		w.stop()
	}
	kept, gave := idle[0], len(idle) > 1
	if !kept.released {
		if err := kept.release(); err != nil {
			kept.kill()
			return true
		}
		kept.released, gave = true, true
	}
	ws.mu.Lock()
	if len(ws.idle) < ws.max {
		ws.idle = append(ws.idle, kept)
		kept = nil
	}
	ws.mu.Unlock()
	if kept != nil {
		kept.stop()
	}
	return gave
}

// derive computes r in an idle or new process; a process that fails is
// killed and the request tried once more in a new one.
func (ws *workers) derive(r workerRequest) ([]byte, error) {
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
	r := workerRequest{params: Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, keyLen: keyLen,
		salt: []byte("a salt of sixteen"), password: []byte("a password")}
	got, err := ws.derive(r)
	ws.stopIdle()
	if err != nil {
		return err
	}
	if want := argon2.IDKey(r.password, r.salt, 1, 8, 1, keyLen); subtle.ConstantTimeCompare(got, want) != 1 {
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
	return h.workers.derive(workerRequest{params: p, keyLen: uint8(keyLen), salt: salt, password: password})
}

// Close ends h's idle hashing processes (they also end with the server).
func (h *Hasher) Close() {
	if h.workers != nil {
		h.workers.stopIdle()
	}
}
