package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/password/hashproc"
)

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id minimum.
var OWASP = Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

// MaxParams bounds the argon2 parameters of any stored hash, Castellan's
// own or imported (argon2id, argon2i, argon2d): a hash asking for more is
// refused on import and never verified. One verification at the bound
// takes about 2.7 s of one core and 256 MiB; see the package documentation.
// The configuration (passwords.argon2id) cannot ask for more either.
var MaxParams = Params{MemoryKiB: hashproc.MaxMemoryKiB, Iterations: hashproc.MaxIterations, Parallelism: hashproc.MaxParallelism}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrMalformed is returned for a stored hash that is not a valid argon2id PHC string.
var ErrMalformed = errors.New("password: malformed argon2id hash")

// Hasher hashes and verifies passwords, at most a fixed number at a time
// (slots), with a bounded number of callers waiting for a slot (the queue)
// for a bounded time. A storm of sign-ins therefore holds at most slots ×
// the argon2id memory, and the callers beyond the queue, or waiting past the
// wait limit, get ErrBusy at once instead of piling up.
type Hasher struct {
	params Params
	slots  chan struct{}
	// admitted holds a place for every caller hashing or waiting to.
	admitted chan struct{}
	maxWait  time.Duration
	// garbage counts finished hashes whose memory no collection has
	// reclaimed yet; collecting serializes the collections of acquire.
	garbage    atomic.Int64
	collecting sync.Mutex
	// generation counts acquires, so that a return of memory scheduled
	// when the hasher fell idle is dropped when it was busy again since.
	generation atomic.Uint64
	// idle is idleBeforeRelease (shorter in tests).
	idle time.Duration

	timing     sync.Once
	timingHash string

	// workers are the hashing processes of an Isolated Hasher (nil:
	// hashes are computed in this process).
	workers *workers
}

// Default admission limits (WithQueue).
const (
	DefaultQueue   = 64
	DefaultMaxWait = 5 * time.Second
)

// ErrBusy answers a hash or verification refused because too many are
// running and waiting; the caller may retry shortly.
var ErrBusy = failure.Unavailable("too many password checks at once; retry in a moment")

// NewHasher returns a Hasher that runs at most concurrent hashes at once,
// with DefaultQueue callers waiting at most DefaultMaxWait.
func NewHasher(p Params, concurrent int) *Hasher {
	return NewHasherWithQueue(p, concurrent, DefaultQueue, DefaultMaxWait)
}

// NewHasherWithQueue returns a Hasher that runs at most concurrent hashes
// at once and lets at most queue more callers wait, each at most maxWait.
func NewHasherWithQueue(p Params, concurrent, queue int, maxWait time.Duration) *Hasher {
	concurrent = max(1, concurrent)
	return &Hasher{params: p, slots: make(chan struct{}, concurrent), admitted: make(chan struct{}, concurrent+max(0, queue)), maxWait: maxWait, idle: idleBeforeRelease}
}

// allocsMetric is the runtime's count of bytes allocated on the heap since
// the process started.
const allocsMetric = "/gc/heap/allocs:bytes"

// heapAllocs reads allocsMetric.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// reclaimAbove is the least a hash must have allocated for release to
// collect its memory.
const reclaimAbove = 1 << 20

type reservationKey struct{}

// reservation is a place in the queue taken before a request does the
// work that leads to a hash (Reserve).
type reservation struct {
	h    *Hasher
	held atomic.Bool
}

// Reserve takes a place among the callers hashing or waiting to, before
// the request that needs it reads anything: a storm of sign-ins beyond the
// queue is refused at once (ErrBusy), before any database read, instead of
// after it. The returned context carries the place to the request's first
// Hash or Verify of h; done gives it back if none used it, and must be
// called when the request ends. A context that carries an unused place of
// h already keeps it: the request's edge and its command may both
// reserve, and it takes one place.
func (h *Hasher) Reserve(ctx context.Context) (_ context.Context, done func(), _ error) {
	if r, ok := ctx.Value(reservationKey{}).(*reservation); ok && r.h == h && r.held.Load() {
		return ctx, func() {}, nil
	}
	select {
	case h.admitted <- struct{}{}:
	default:
		return ctx, func() {}, ErrBusy
	}
	r := &reservation{h: h}
	r.held.Store(true)
	return context.WithValue(ctx, reservationKey{}, r), func() {
		if r.held.CompareAndSwap(true, false) {
			<-h.admitted
		}
	}, nil
}

// Full reports whether every place among the callers hashing or waiting
// is taken: a Reserve now would be refused (ErrBusy). It lets a request's
// edge refuse before it decodes anything (sessionapi.Admission); a place
// may free or fill the next moment, and Reserve decides.
func (h *Hasher) Full() bool { return len(h.admitted) == cap(h.admitted) }

// acquire waits for a slot and, once it has one, reclaims the memory of
// the hashes that finished since the last collection (collect); it
// returns heapAllocs, for release.
func (h *Hasher) acquire(ctx context.Context) (uint64, error) {
	if r, ok := ctx.Value(reservationKey{}).(*reservation); !ok || r.h != h || !r.held.CompareAndSwap(true, false) {
		select {
		case h.admitted <- struct{}{}:
		default:
			return 0, ErrBusy // the queue is full: refuse at once
		}
	}
	h.generation.Add(1) // work again: a pending return of memory waits for the next idle
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		h.collect()
		return heapAllocs(), nil
	case <-timer.C:
		<-h.admitted
		return 0, ErrBusy
	case <-ctx.Done():
		<-h.admitted
		return 0, ctx.Err()
	}
}

// collect runs a garbage collection when a finished hash's memory is
// still on the heap, before the caller's hash allocates its own.
//
// An argon2id hash allocates its whole memory (passwords.argon2id.
// memory_kib) at once, and it is garbage the moment the hash is done. Left
// to the garbage collector's pacing (GOGC), that garbage stays on the heap
// until the heap doubles past what was live at the last collection, and a
// collection that ran while other hashes were running counts their memory
// as live: under a storm of sign-ins each slot held 2.5 to 3.3 times
// memory_kib of resident memory. Collecting before a slot's next hash
// allocates means that hash reuses the pages of the last one: the heap
// holds about one argon2id memory per slot, whatever the number of
// requests.
//
// Why before the next hash rather than at the end of the last one: a
// collection when no hash is running leaves the runtime a small heap goal,
// and its scavenger then hands the finished hash's pages back to the
// system in the background; the next hash faults all of them in again and
// clears them (measured: hundreds of page faults and a tenth of the
// server's CPU per sign-in). Until a collection reclaims it, a finished
// hash's memory is garbage, not free pages, which the scavenger cannot
// touch; collected just before the next allocation, its pages go to the
// next hash before the scavenger reaches them (mostly: on another core,
// the scavenger may still take some between the collection and the
// allocation). The price: a sign-in that
// follows another within idleBeforeRelease waits for that collection
// (its marking and sweep, a few ms) before hashing. Concurrent
// callers wait for one collection. Hashes that allocate little (bcrypt,
// PBKDF2) collect nothing.
func (h *Hasher) collect() {
	if h.garbage.Load() == 0 {
		return
	}
	h.collecting.Lock()
	defer h.collecting.Unlock()
	if n := h.garbage.Load(); n > 0 {
		runtime.GC()
		h.garbage.Add(-n)
	}
}

// release gives back the slot taken by acquire. allocs is heapAllocs read
// when the slot was taken: a hash that allocated at least reclaimAbove
// leaves garbage for the next acquire to collect. When the hasher falls
// idle, what it made the heap grow by goes back to the system after
// idleBeforeRelease (debug.FreeOSMemory), rather than after the runtime's
// background scavenger's minutes; not at once: under a steady load the
// queue empties between requests, and pages given back would only be
// faulted in again by the next hash (at 4 KiB a fault, 4,864 faults for
// the default 19 MiB).
func (h *Hasher) release(allocs uint64) {
	if heapAllocs()-allocs >= reclaimAbove {
		h.garbage.Add(1)
	}
	<-h.slots
	<-h.admitted
	if len(h.admitted) == 0 && (h.garbage.Load() > 0 || h.workers != nil && h.workers.holdsMemory()) {
		gen := h.generation.Load()
		time.AfterFunc(h.idle, func() {
			if h.generation.Load() == gen && len(h.admitted) == 0 {
				h.collecting.Lock()
				defer h.collecting.Unlock()
				if h.generation.Load() != gen {
					return
				}
				// An Isolated Hasher's processes end, and a fresh one
				// takes their place; what the requests around the hashes
				// left on the heap (a storm's, mostly) goes back too, as a
				// hash's memory does in the server's process.
				gave := h.workers != nil && h.workers.release()
				if n := h.garbage.Load(); n > 0 || gave {
					runtime.GC() // sync.Pool keeps what it held through one collection
					debug.FreeOSMemory()
					h.garbage.Add(-n)
				}
			}
		})
	}
}

// idleBeforeRelease is how long the hasher must be idle before the memory
// of its last hashes goes back to the system.
const idleBeforeRelease = 10 * time.Second

// Hash returns the PHC string of password under the Hasher's parameters.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	allocs, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer h.release(allocs)
	p := h.params
	key, err := h.idKey([]byte(password), salt, p, keyLen)
	if err != nil {
		return "", err
	}
	return encode(p, salt, key), nil
}

// Verify reports whether password matches the stored hash.
func (h *Hasher) Verify(ctx context.Context, password, stored string) (bool, error) {
	p, salt, want, err := Parse(stored)
	if err != nil {
		return false, err
	}
	allocs, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer h.release(allocs)
	got, err := h.idKey([]byte(password), salt, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// TimingHash returns a hash under h's parameters of a password nobody
// knows, computed once (outside the slots), for a verification that must
// cost what a real one does: a sign-in for an unknown login name.
func (h *Hasher) TimingHash() string {
	h.timing.Do(func() {
		salt, secret := make([]byte, saltLen), make([]byte, 32)
		_, _ = rand.Read(salt)
		_, _ = rand.Read(secret)
		p := h.params
		key, err := h.idKey(secret, salt, p, keyLen)
		if err != nil { // a hash of this process is as good
			key = argon2.IDKey(secret, salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
		}
		h.timingHash = encode(p, salt, key)
	})
	return h.timingHash
}

// NeedsRehash reports whether stored was made with other parameters than
// the Hasher's.
func (h *Hasher) NeedsRehash(stored string) bool {
	p, _, _, err := Parse(stored)
	return err != nil || p != h.params
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Parse splits an argon2id PHC string into its parameters, salt and hash.
// Parameters above MaxParams make the hash malformed.
func Parse(stored string) (Params, []byte, []byte, error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return Params{}, nil, nil, ErrMalformed
		}
		switch k {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > uint64(MaxParams.Parallelism) {
				return Params{}, nil, nil, ErrMalformed
			}
			p.Parallelism = uint8(n)
		default:
			return Params{}, nil, nil, ErrMalformed
		}
	}
	if p.Iterations < 1 || p.Iterations > MaxParams.Iterations || p.Parallelism < 1 ||
		p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > MaxParams.MemoryKiB {
		return Params{}, nil, nil, ErrMalformed
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 128 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}

// Generate returns a random password of n characters from an alphabet
// without look-alike characters, for initial credentials.
func Generate(n int) (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	// 256 is not a multiple of len(alphabet); reject bytes that would bias.
	limit := byte(256 - 256%len(alphabet))
	out := make([]byte, 0, n)
	for len(out) < n {
		for _, c := range b {
			if c < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
	}
	return string(out), nil
}
