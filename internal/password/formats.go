package password

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-crypt/crypt"
	"github.com/go-crypt/crypt/algorithm"
	"github.com/go-crypt/crypt/algorithm/argon2"
	"github.com/go-crypt/crypt/algorithm/bcrypt"
	"github.com/go-crypt/crypt/algorithm/pbkdf2"
	"github.com/go-crypt/crypt/algorithm/scrypt"
	"github.com/go-crypt/crypt/algorithm/shacrypt"
	"github.com/go-crypt/x/yescrypt"
)

// ErrUnsupported is the cause of every error Supported returns. Messages
// name the format and the problem, never any part of the hash.
var ErrUnsupported = errors.New("password: unsupported hash")

// Bounds on the cost of a stored hash of another system, so that an
// imported hash cannot make a sign-in allocate gigabytes or compute for
// seconds on end. The package documentation says why each is where it is;
// argon2's are MaxParams.
const (
	maxStoredLen = 1024
	// Passwords longer than this never match a hash of another format.
	// The password policy (package user) allows at most 1024 bytes.
	maxVerifyLen = 1024
	// SHA-crypt hashes the password again in every round, so its cost
	// grows with the password's length: longer passwords never match.
	maxSHACryptVerifyLen = 256
	maxBcryptCost        = 14
	maxScryptLogN        = 20
	maxScryptR           = 32
	maxScryptP           = 16
	maxScryptMemory      = 256 << 20 // 128·N·r bytes
	maxScryptWork        = 1 << 23   // N·r·p
	maxPBKDF2Rounds      = 2_000_000
	maxPBKDF2Work        = 4_000_000 // iterations × blocks of output
	maxPBKDF2KeyLen      = 64
	maxSHACryptRounds    = 1_000_000
	minSHACryptRounds    = 1000
	maxDerivedKeyBytes   = 128
)

// decoder knows exactly the formats Castellan imports; md5crypt, sha1crypt
// and the library's plaintext "hashes" are left out on purpose.
var decoder = func() *crypt.Decoder {
	d := crypt.NewDecoder()
	for _, register := range []func(algorithm.DecoderRegister) error{
		argon2.RegisterDecoder, bcrypt.RegisterDecoder, pbkdf2.RegisterDecoder, scrypt.RegisterDecoder, shacrypt.RegisterDecoder,
	} {
		if err := register(d); err != nil {
			panic(err)
		}
	}
	return d
}()

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)
}

// Supported checks that stored is a password hash Castellan can verify, in
// one of the formats of other systems it imports, with cost parameters
// within bounds:
//
//   - argon2id, argon2i, argon2d (PHC string, v=19): memory m ≤ 256 MiB,
//     iterations t ≤ 10, parallelism p ≤ 16 (MaxParams);
//   - bcrypt ($2$, $2a$, $2b$, $2y$) and passlib's bcrypt-sha256 (v=2):
//     cost ≤ 14;
//   - scrypt ($scrypt$ln=…,r=…,p=…$, passlib's PHC form) and yescrypt ($y$):
//     N ≤ 2^20, r ≤ 32, p ≤ 16, memory 128·N·r ≤ 256 MiB and work
//     N·r·p ≤ 2^23;
//   - PBKDF2 ($pbkdf2$, $pbkdf2-sha1$ … $pbkdf2-sha512$ with the iteration
//     count and passlib's adapted base64): iterations ≤ 2,000,000, a
//     derived key of at most 64 bytes, and iterations × blocks of the
//     derived key ≤ 4,000,000;
//   - SHA-crypt ($5$, $6$): 1,000 ≤ rounds ≤ 1,000,000.
//
// The bounds are checked on the text and again on the library's encoding of
// what it decoded, so that the two readings cannot disagree about the cost.
// The LDAP prefixes {CRYPT} and {ARGON2} are accepted. The error names the
// parameter out of bounds and wraps ErrUnsupported; its message never
// contains the salt or the hash value.
func Supported(stored string) error {
	_, err := inspect(stored)
	return err
}

// inspect checks stored as Supported does and returns its decoded digest.
func inspect(stored string) (algorithm.Digest, error) {
	if stored == "" {
		return nil, unsupported("empty hash")
	}
	if len(stored) > maxStoredLen {
		return nil, unsupported("a hash has at most %d characters", maxStoredLen)
	}
	normalized := crypt.Normalize(stored)
	format, err := check(normalized)
	if err != nil {
		return nil, err
	}
	digest, err := decoder.Decode(normalized)
	if err != nil {
		return nil, unsupported("%s: %s", format, decodeProblem(err))
	}
	// The library parses the text itself; its reading must be within the
	// bounds too, whatever it made of the text.
	if _, err := check(libraryReading(digest)); err != nil {
		return nil, err
	}
	return digest, nil
}

// libraryReading is the library's encoding of digest in the syntax check
// reads: the library writes a bcrypt cost below 10 with one digit.
func libraryReading(digest algorithm.Digest) string {
	s := digest.Encode()
	if parts := strings.SplitN(s, "$", 4); len(parts) == 4 && strings.HasPrefix(parts[1], "2") && len(parts[2]) == 1 {
		return "$" + parts[1] + "$0" + parts[2] + "$" + parts[3]
	}
	return s
}

// check checks the syntax and cost bounds of a normalized hash and returns
// the name of its format.
func check(normalized string) (string, error) {
	parts := strings.Split(normalized, "$")
	if len(parts) < 3 || parts[0] != "" {
		return "", unsupported("not a crypt or PHC string ($format$…)")
	}
	format := parts[1]
	var err error
	switch format {
	case "argon2id", "argon2i", "argon2d":
		err = checkArgon2(parts)
	case "2", "2a", "2b", "2y":
		format = "bcrypt"
		err = checkBcrypt(parts)
	case "bcrypt-sha256":
		err = checkBcryptSHA256(parts)
	case "scrypt":
		err = checkScrypt(parts)
	case "y":
		format = "yescrypt"
		err = checkYescrypt(parts)
	case "pbkdf2", "pbkdf2-sha1", "pbkdf2-sha224", "pbkdf2-sha256", "pbkdf2-sha384", "pbkdf2-sha512":
		err = checkPBKDF2(parts)
	case "5", "6":
		format = "sha" + map[string]string{"5": "256", "6": "512"}[format] + "-crypt"
		err = checkSHACrypt(parts)
	case "2x":
		return "", unsupported("bcrypt $2x$ hashes come from a known-broken implementation")
	case "1", "md5", "sha1", "plaintext", "base64":
		return "", unsupported("this legacy format is not imported")
	default:
		return "", unsupported("unknown format; supported are argon2, bcrypt, scrypt, yescrypt, pbkdf2 and sha-crypt")
	}
	if err != nil {
		return "", unsupported("%s: %v", format, err)
	}
	return format, nil
}

// decodeProblem describes a decoding error of the library without its
// text, which may quote parts of the hash.
func decodeProblem(err error) string {
	switch {
	case errors.Is(err, algorithm.ErrEncodedHashSaltEncoding):
		return "the salt is not validly encoded"
	case errors.Is(err, algorithm.ErrEncodedHashKeyEncoding):
		return "the hash value is not validly encoded"
	case errors.Is(err, algorithm.ErrEncodedHashInvalidVersion):
		return "unsupported version"
	case errors.Is(err, algorithm.ErrEncodedHashInvalidOptionKey), errors.Is(err, algorithm.ErrEncodedHashInvalidOptionValue):
		return "invalid parameters"
	default:
		return "malformed"
	}
}

// phcParams parses "k=v,k=v" with unsigned integer values and only the
// given keys, each at most once.
func phcParams(s string, keys ...string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errors.New("malformed parameters")
		}
		known := false
		for _, want := range keys {
			known = known || k == want
		}
		if !known {
			return nil, errors.New("unknown parameter")
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("parameter %s given twice", k)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parameter %s is not a number below 2^32", k)
		}
		out[k] = n
	}
	return out, nil
}

func checkKeyLen(encoded string, max int) error {
	// Base64 of n bytes takes ⌈4n/3⌉ characters.
	if len(encoded)*3/4 > max {
		return fmt.Errorf("the hash value is longer than %d bytes", max)
	}
	return nil
}

// crypt64 reports whether s is non-empty and uses only the alphabet of
// crypt(3) and bcrypt: ./0-9A-Za-z.
func crypt64(s string) bool {
	for _, c := range []byte(s) {
		if !(c == '.' || c == '/' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return s != ""
}

// checkArgon2 checks $argon2X$v=19$m=…,t=…,p=…$salt$key.
func checkArgon2(parts []string) error {
	if len(parts) != 6 {
		return errors.New("expected $argon2…$v=19$m=…,t=…,p=…$salt$hash")
	}
	if parts[2] != "v=19" {
		return errors.New("only version 19 is supported")
	}
	p, err := phcParams(parts[3], "m", "t", "p")
	if err != nil {
		return err
	}
	m, t, par := p["m"], p["t"], p["p"]
	if len(p) != 3 || t < 1 || par < 1 {
		return errors.New("m, t and p are required and positive")
	}
	if t > uint64(MaxParams.Iterations) {
		return fmt.Errorf("iterations t=%d are above the limit of %d", t, MaxParams.Iterations)
	}
	if par > uint64(MaxParams.Parallelism) {
		return fmt.Errorf("parallelism p=%d is above the limit of %d", par, MaxParams.Parallelism)
	}
	if m > uint64(MaxParams.MemoryKiB) {
		return fmt.Errorf("memory m=%d KiB is above the limit of %d KiB (%d MiB)", m, MaxParams.MemoryKiB, MaxParams.MemoryKiB>>10)
	}
	if m < 8*par {
		return errors.New("memory is below 8 KiB per lane")
	}
	return checkKeyLen(parts[5], maxDerivedKeyBytes)
}

func checkBcryptCost(cost uint64) error {
	if cost < 4 || cost > maxBcryptCost {
		return fmt.Errorf("cost %d is outside 4 to %d", cost, maxBcryptCost)
	}
	return nil
}

// checkBcrypt checks $2b$CC$<22 salt><31 hash>.
func checkBcrypt(parts []string) error {
	if len(parts) != 4 || len(parts[2]) != 2 {
		return errors.New("expected $2b$cost$salthash")
	}
	cost, err := strconv.ParseUint(parts[2], 10, 8)
	if err != nil {
		return errors.New("the cost is not a number")
	}
	if len(parts[3]) != 53 || !crypt64(parts[3]) {
		return errors.New("salt and hash are not 53 characters of bcrypt's base64")
	}
	return checkBcryptCost(cost)
}

// checkBcryptSHA256 checks passlib's $bcrypt-sha256$v=2,t=2b,r=CC$salt$hash.
func checkBcryptSHA256(parts []string) error {
	if len(parts) != 5 {
		return errors.New("expected $bcrypt-sha256$v=2,t=…,r=…$salt$hash")
	}
	var cost uint64
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(parts[2], ",") {
		k, v, _ := strings.Cut(kv, "=")
		if seen[k] {
			return fmt.Errorf("parameter %s given twice", k)
		}
		seen[k] = true
		switch {
		case k == "v" && v == "2", k == "t" && (v == "2a" || v == "2b" || v == "2y"):
		case k == "r":
			n, err := strconv.ParseUint(v, 10, 8)
			if err != nil {
				return errors.New("the cost is not a number")
			}
			cost = n
		default:
			return errors.New("only version 2 with a 2a, 2b or 2y bcrypt is supported")
		}
	}
	if !seen["v"] || !seen["r"] {
		return errors.New("the version or the cost is missing")
	}
	if len(parts[3]) != 22 || len(parts[4]) != 31 || !crypt64(parts[3]+parts[4]) {
		return errors.New("salt and hash are not 22 and 31 characters of bcrypt's base64")
	}
	return checkBcryptCost(cost)
}

func checkScryptCost(logN, r, p uint64) error {
	switch {
	case logN < 1 || logN > maxScryptLogN:
		return fmt.Errorf("the cost parameter N = 2^%d (ln=%d) is outside 2^1 to 2^%d", logN, logN, maxScryptLogN)
	case r < 1 || r > maxScryptR:
		return fmt.Errorf("the block size r = %d is outside 1 to %d", r, maxScryptR)
	case p < 1 || p > maxScryptP:
		return fmt.Errorf("the parallelism p = %d is outside 1 to %d", p, maxScryptP)
	case 128*r<<logN > maxScryptMemory:
		return fmt.Errorf("the parameters N and r need memory of %d MiB (128·N·r), above the limit of %d MiB", 128*r<<logN>>20, maxScryptMemory>>20)
	case r*p<<logN > maxScryptWork:
		return fmt.Errorf("the work N·r·p = %d is above the limit of %d", r*p<<logN, maxScryptWork)
	}
	return nil
}

// checkScrypt checks $scrypt$ln=…,r=…,p=…$salt$hash; absent parameters
// take the library's defaults (ln=16, r=8, p=1).
func checkScrypt(parts []string) error {
	if len(parts) != 5 {
		return errors.New("expected $scrypt$ln=…,r=…,p=…$salt$hash")
	}
	p, err := phcParams(parts[2], "ln", "r", "p")
	if err != nil {
		return err
	}
	logN, r, par := uint64(16), uint64(8), uint64(1)
	if v, ok := p["ln"]; ok {
		logN = v
	}
	if v, ok := p["r"]; ok {
		r = v
	}
	if v, ok := p["p"]; ok {
		par = v
	}
	if err := checkScryptCost(logN, r, par); err != nil {
		return err
	}
	return checkKeyLen(parts[4], maxDerivedKeyBytes)
}

// checkYescrypt checks $y$jXX$salt$hash (yescrypt's default flags, p=1).
func checkYescrypt(parts []string) error {
	if len(parts) != 5 {
		return errors.New("expected $y$setting$salt$hash")
	}
	_, logN, r, err := yescrypt.DecodeSetting([]byte(parts[2]))
	if err != nil || logN < 1 || r < 1 {
		return errors.New("unsupported setting")
	}
	if err := checkScryptCost(uint64(logN), uint64(r), 1); err != nil {
		return err
	}
	if len(yescrypt.Decode64([]byte(parts[3]))) == 0 || len(yescrypt.Decode64([]byte(parts[4]))) != 32 {
		return errors.New("salt and hash are not in crypt's base64, or the hash is not 32 bytes")
	}
	return nil
}

// checkPBKDF2 checks passlib's $pbkdf2-sha256$ROUNDS$salt$hash.
func checkPBKDF2(parts []string) error {
	if len(parts) != 5 {
		return errors.New("expected $pbkdf2-…$iterations$salt$hash")
	}
	n, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil || n < 1 {
		return errors.New("the iteration count is not a positive number")
	}
	if n > maxPBKDF2Rounds {
		return fmt.Errorf("iterations %d are above the limit of %d", n, maxPBKDF2Rounds)
	}
	if err := checkKeyLen(parts[4], maxPBKDF2KeyLen); err != nil {
		return err
	}
	// Each block of the digest's size in the derived key costs the
	// iterations again.
	digestLen := map[string]int{"pbkdf2": 20, "pbkdf2-sha1": 20, "pbkdf2-sha224": 28, "pbkdf2-sha256": 32, "pbkdf2-sha384": 48, "pbkdf2-sha512": 64}[parts[1]]
	keyLen := len(parts[4]) * 3 / 4
	if blocks := uint64(max(1, (keyLen+digestLen-1)/digestLen)); n*blocks > maxPBKDF2Work {
		return fmt.Errorf("iterations %d for a derived key of %d blocks are above the limit of %d iterations × blocks", n, blocks, maxPBKDF2Work)
	}
	return nil
}

// checkSHACrypt checks $6$[rounds=N$]salt$hash.
func checkSHACrypt(parts []string) error {
	salt, hash := parts[len(parts)-2], parts[len(parts)-1]
	if len(salt) > 16 || !crypt64(salt) || !crypt64(hash) || len(hash) != map[string]int{"5": 43, "6": 86}[parts[1]] {
		return errors.New("the salt is not 1 to 16 characters, or the hash is not of the digest's length, in crypt's base64")
	}
	switch len(parts) {
	case 4:
		return nil // 5,000 rounds
	case 5:
		p, err := phcParams(parts[2], "rounds")
		if err != nil {
			return err
		}
		n, ok := p["rounds"]
		if !ok || n < minSHACryptRounds || n > maxSHACryptRounds {
			return fmt.Errorf("rounds %d are outside %d to %d", n, minSHACryptRounds, maxSHACryptRounds)
		}
		return nil
	default:
		return errors.New("expected $6$rounds=…$salt$hash")
	}
}

// VerifyAny reports whether password matches stored, a hash of Castellan's
// own (argon2id) or of another format Supported accepts. upgrade is true
// when stored is not argon2id under the Hasher's parameters: the caller
// then stores Hash(password) after a successful sign-in. Verification
// takes one of the Hasher's slots and compares in constant time.
func (h *Hasher) VerifyAny(ctx context.Context, password, stored string) (ok, upgrade bool, err error) {
	if p, _, _, err := Parse(stored); err == nil {
		ok, err := h.Verify(ctx, password, stored)
		return ok, p != h.params, err
	}
	digest, err := inspect(stored)
	if err != nil {
		return false, true, err
	}
	if len(password) > maxVerifyLen || len(password) > maxSHACryptVerifyLen && isSHACrypt(stored) {
		return false, true, nil
	}
	allocs, err := h.acquire(ctx)
	if err != nil {
		return false, true, err
	}
	defer h.release(allocs)
	match, err := digest.MatchAdvanced(password)
	if err != nil {
		// The library fails only for parameters Supported let through
		// but the algorithm rejects; the hash can never match.
		return false, true, unsupported("the hash cannot be verified")
	}
	return match, true, nil
}

func isSHACrypt(stored string) bool {
	n := crypt.Normalize(stored)
	return strings.HasPrefix(n, "$5$") || strings.HasPrefix(n, "$6$")
}

// Concurrency is how many hashes the Hasher computes at once; bulk work
// (an import) uses at most as many goroutines.
func (h *Hasher) Concurrency() int { return cap(h.slots) }
