// Package password hashes and verifies human passwords with argon2id
// (RFC 9106), stored in the PHC string format
// "$argon2id$v=19$m=MEMORY,t=ITERATIONS,p=PARALLELISM$SALT$HASH".
//
// Hashing is deliberately memory-hard and therefore expensive; a Hasher
// bounds how many hashes run at once, so a storm of logins queues instead of
// exhausting memory. Parameters stored in each hash (within MaxParams) are
// honoured on verify, so raising the cost applies to new hashes without
// breaking old ones, and NeedsRehash tells when a stored hash should be
// upgraded.
//
// Imported hashes. Users imported from another system keep the hash that
// system stored: argon2 (i, d, id), bcrypt, bcrypt-sha256, scrypt,
// yescrypt, PBKDF2 and SHA-crypt, read with github.com/go-crypt/crypt.
// Hasher.VerifyAny verifies any of them under the same concurrency bound and
// says when the hash should be replaced by an argon2id hash of the password
// just verified.
//
// Bounded work. A stored hash names its own cost, and whoever supplies it
// (an import file, a compromised source system) chooses how much memory and
// time every later sign-in spends on it. Supported admits a hash on import
// only when its parameters are within the bounds below, naming the
// parameter otherwise; VerifyAny and Verify check the same bounds again
// before computing anything, so a hash that reached the event log another
// way is refused too. The bounds sit above what the formats' own software
// uses by default and what current guidance (OWASP Password Storage Cheat
// Sheet, RFC 9106) recommends, and below the point where one verification
// costs seconds of a core or more memory than a hash of Castellan's own may
// ask for. Measured on one core of the development machine (2026):
//
//	argon2 (MaxParams)  m ≤ 256 MiB, t ≤ 10, p ≤ 16     2.7 s at m=256 MiB, t=10
//	                    (RFC 9106's second recommendation is 64 MiB, t=3;
//	                    OWASP's minimum 19 MiB, t=2)
//	bcrypt              cost ≤ 14                        1.0 s (common: 10–12)
//	scrypt, yescrypt    128·N·r ≤ 256 MiB, N·r·p ≤ 2^23, 2.9 s at N=2^18, r=8, p=4
//	                    N ≤ 2^20, r ≤ 32, p ≤ 16         (common: N=2^14–2^17, r=8, p=1)
//	PBKDF2              iterations ≤ 2,000,000, and      1.6 s (SHA-512, 2M); OWASP asks
//	                    iterations × output blocks       600,000 (SHA-256) to
//	                    ≤ 4,000,000                      1,300,000 (SHA-1)
//	SHA-crypt           1,000 ≤ rounds ≤ 1,000,000;      0.9 s at 1M rounds and 256 bytes
//	                    passwords over 256 bytes never   (passlib's default: 535,000
//	                    match                            to 656,000 rounds)
//
// Memory is the same bound for argon2 and scrypt (256 MiB): together with
// the Hasher's concurrency (passwords.max_concurrent) it bounds the memory
// of sign-ins. The configured argon2id parameters (passwords.argon2id) are
// bounded by MaxParams as well, so Castellan never writes a hash it would
// refuse to verify.
//
// Admission: at most passwords.max_concurrent hashes run at once, at most
// passwords.queue more callers wait for a slot, each at most
// passwords.queue_timeout. A caller beyond the queue, or waiting too long,
// gets ErrBusy (503 with Retry-After at the API, which also closes the
// connection) at once, so a storm of sign-ins neither piles up requests
// nor grows memory. Reserve takes the place before the request reads
// anything; the Session API reserves before it even checks the caller's
// token. A verification for
// an unknown login name (TimingHash) passes the same admission, so a busy
// server answers unknown and known names alike.
//
// Hashing processes (passwords.isolated, the default): the server computes
// argon2id in helper processes of its own binary, one per slot at most,
// started on demand; after idleBeforeRelease without a hash all end and a
// fresh one is kept (worker.go says how and why; package hashproc is the
// process's side). A hash's memory then never enters the
// server's heap: no collection of the server's heap per sign-in, whose
// cost grows with everything else the server holds (measured: a
// verification beside a live heap of 8 MiB costs 35 ms of CPU in the
// server's process and 28 ms isolated; beside 128 MiB, 106 ms and 28 ms;
// BenchmarkVerifyBesideLiveHeap). Hashes of imported formats other than
// argon2id, and every hash of a Hasher not Isolated, run in the server's
// process as described next.
//
// Memory: before a hash allocates its memory, a garbage collection
// reclaims the memory of the hashes that finished since the last one
// (Hasher.collect), so that the heap holds about one argon2id memory per
// slot under a storm instead of the 2.5 to 3.3 that the collector's own
// pacing left, and the new hash reuses the pages of the last one. The
// collection runs then, and not when a hash ends: collected with no hash
// running, the heap's goal is small, and the runtime's scavenger handed
// the finished hash's pages back to the system in the background, for the
// next hash to fault them in again (a page fault per 4 KiB, hundreds per
// sign-in, a tenth of the server's CPU). Once the hasher has been idle for
// idleBeforeRelease (10 s), what hashing made the heap grow by goes back to
// the system at once (a collection, for what sync.Pools held through the
// first, then debug.FreeOSMemory); under a steady load the hasher
// is rarely idle that long, and a burst's memory is back well within the
// 30 s the figures allow.
package password
