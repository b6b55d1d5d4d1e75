package password

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-crypt/crypt/algorithm"
	cryptbcrypt "github.com/go-crypt/crypt/algorithm/bcrypt"
	cryptscrypt "github.com/go-crypt/crypt/algorithm/scrypt"
	"github.com/go-crypt/crypt/algorithm/shacrypt"
	"github.com/go-crypt/x/yescrypt"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

const pw = "correct horse battery staple"

var salt16 = []byte("0123456789abcdef")

// Hashes made by independent implementations (x/crypto and the standard
// library) in the formats other systems store, so that verification does
// not only agree with the library's own hasher.
func bcryptHash(t *testing.T, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func scryptHash(t *testing.T, password string, logN, r, p int) string {
	t.Helper()
	key, err := scrypt.Key([]byte(password), salt16, 1<<logN, r, p, 32)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$scrypt$ln=%d,r=%d,p=%d$%s$%s", logN, r, p, b64.EncodeToString(salt16), b64.EncodeToString(key))
}

// pbkdf2Hash writes passlib's format: the iteration count, then salt and
// key in base64 with "." for "+".
func pbkdf2Hash(t *testing.T, name, password string, iterations int) string {
	t.Helper()
	var key []byte
	var err error
	switch name {
	case "pbkdf2":
		key, err = pbkdf2.Key(sha1.New, password, salt16, iterations, 20)
	case "pbkdf2-sha256":
		key, err = pbkdf2.Key(sha256.New, password, salt16, iterations, 32)
	case "pbkdf2-sha512":
		key, err = pbkdf2.Key(sha512.New, password, salt16, iterations, 64)
	}
	if err != nil {
		t.Fatal(err)
	}
	ab64 := func(b []byte) string { return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(b), "+", ".") }
	return fmt.Sprintf("$%s$%d$%s$%s", name, iterations, ab64(salt16), ab64(key))
}

func argon2iHash(password string) string {
	key := argon2.Key([]byte(password), salt16, 2, 8192, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2i$v=19$m=8192,t=2,p=1$%s$%s", b64.EncodeToString(salt16), b64.EncodeToString(key))
}

func libraryHash(t *testing.T, newHasher func() (algorithm.Hash, error), password string) string {
	t.Helper()
	h, err := newHasher()
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	return d.Encode()
}

func TestVerifyAny(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	own, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	older, err := NewHasher(Params{MemoryKiB: 8192, Iterations: 2, Parallelism: 1}, 1).Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		stored  string
		upgrade bool
	}{
		{"ok/argon2id of our parameters", own, false},
		{"ok/argon2id of older parameters", older, true},
		{"ok/argon2i", argon2iHash(pw), true},
		{"ok/bcrypt $2a$", strings.Replace(bcryptHash(t, pw, 4), "$2a$", "$2a$", 1), true},
		{"ok/bcrypt $2b$", strings.Replace(bcryptHash(t, pw, 5), "$2a$", "$2b$", 1), true},
		{"ok/bcrypt $2y$ (PHP)", strings.Replace(bcryptHash(t, pw, 4), "$2a$", "$2y$", 1), true},
		{"ok/bcrypt-sha256 (passlib)", libraryHash(t, func() (algorithm.Hash, error) {
			return cryptbcrypt.NewSHA256(cryptbcrypt.WithIterations(10))
		}, pw), true},
		{"ok/scrypt", scryptHash(t, pw, 10, 8, 1), true},
		{"ok/scrypt with p=2", scryptHash(t, pw, 8, 4, 2), true},
		{"ok/yescrypt", libraryHash(t, func() (algorithm.Hash, error) {
			return cryptscrypt.NewYescrypt(cryptscrypt.WithLN(10), cryptscrypt.WithR(8), cryptscrypt.WithP(1))
		}, pw), true},
		{"ok/pbkdf2-sha1", pbkdf2Hash(t, "pbkdf2", pw, 1000), true},
		{"ok/pbkdf2-sha256", pbkdf2Hash(t, "pbkdf2-sha256", pw, 1000), true},
		{"ok/pbkdf2-sha512", pbkdf2Hash(t, "pbkdf2-sha512", pw, 1000), true},
		{"ok/sha512-crypt", libraryHash(t, func() (algorithm.Hash, error) { return shacrypt.New(shacrypt.WithSHA512(), shacrypt.WithRounds(5000)) }, pw), true},
		{"ok/sha256-crypt", libraryHash(t, func() (algorithm.Hash, error) { return shacrypt.New(shacrypt.WithSHA256(), shacrypt.WithRounds(1000)) }, pw), true},
		{"ok/LDAP {CRYPT} prefix", "{CRYPT}" + bcryptHash(t, pw, 4), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Supported(tc.stored); err != nil {
				t.Fatalf("Supported: %v", err)
			}
			ok, upgrade, err := h.VerifyAny(ctx, pw, tc.stored)
			if err != nil || !ok || upgrade != tc.upgrade {
				t.Fatalf("VerifyAny(right password) = %v, %v, %v; want true, %v, nil", ok, upgrade, err, tc.upgrade)
			}
			for _, wrong := range []string{pw + "!", strings.ToUpper(pw), "", pw[:len(pw)-1]} {
				if ok, _, err := h.VerifyAny(ctx, wrong, tc.stored); ok || err != nil {
					t.Fatalf("VerifyAny(%q) = %v, %v; want false, nil", wrong, ok, err)
				}
			}
		})
	}
}

// Published vectors: the SHA-crypt specification's and OpenWall's bcrypt
// test suite, checked against the library.
func TestVerifyAnyKnownVectors(t *testing.T) {
	h := NewHasher(cheap, 1)
	for _, tc := range []struct{ name, password, stored string }{
		{"ok/sha512-crypt spec", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"ok/sha512-crypt spec with rounds", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"ok/bcrypt openwall", "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, upgrade, err := h.VerifyAny(context.Background(), tc.password, tc.stored)
			if err != nil || !ok || !upgrade {
				t.Fatalf("VerifyAny = %v, %v, %v", ok, upgrade, err)
			}
		})
	}
}

func TestSupportedRejects(t *testing.T) {
	b64 := base64.RawStdEncoding.EncodeToString
	key := b64(make([]byte, 32))
	bcryptOK := bcryptHash(t, pw, 4)
	for _, tc := range []struct{ name, stored, says string }{
		{"fail/empty", "", "empty"},
		{"fail/not a hash", "hunter2hunter2", "not a crypt or PHC string"},
		{"fail/too long", "$2b$" + strings.Repeat("x", 2000), "at most 1024"},
		{"fail/unknown format", "$whirlpool$abc$def", "unknown format"},
		{"fail/md5-crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "legacy"},
		{"fail/plaintext", "$plaintext$" + pw, "legacy"},
		{"fail/bcrypt $2x$", strings.Replace(bcryptOK, "$2a$", "$2x$", 1), "known-broken"},
		{"fail/bcrypt cost 15", strings.Replace(bcryptOK, "$04$", "$15$", 1), "cost 15 is outside 4 to 14"},
		{"fail/bcrypt cost 16", strings.Replace(bcryptOK, "$04$", "$16$", 1), "cost 16 is outside 4 to 14"},
		{"fail/bcrypt cost 31", strings.Replace(bcryptOK, "$04$", "$31$", 1), "cost 31"},
		{"fail/bcrypt truncated", bcryptOK[:40], "bcrypt"},
		{"fail/bcrypt-sha256 cost 15", "$bcrypt-sha256$v=2,t=2b,r=15$" + strings.Repeat("a", 22) + "$" + strings.Repeat("a", 31), "cost 15"},
		{"fail/bcrypt-sha256 cost 20", "$bcrypt-sha256$v=2,t=2b,r=20$" + strings.Repeat("a", 22) + "$" + strings.Repeat("a", 31), "cost 20"},
		{"fail/scrypt N 2^21", "$scrypt$ln=21,r=8,p=1$" + b64(salt16) + "$" + key, "N = 2^21"},
		{"fail/scrypt memory", "$scrypt$ln=20,r=16,p=1$" + b64(salt16) + "$" + key, "MiB"},
		{"fail/scrypt 1 GiB", "$scrypt$ln=20,r=8,p=1$" + b64(salt16) + "$" + key, "memory of 1024 MiB (128·N·r), above the limit of 256 MiB"},
		{"fail/scrypt 512 MiB", "$scrypt$ln=19,r=8,p=1$" + b64(salt16) + "$" + key, "memory of 512 MiB"},
		{"fail/scrypt work", "$scrypt$ln=20,r=8,p=16$" + b64(salt16) + "$" + key, "MiB"},
		{"fail/scrypt work at 256 MiB", "$scrypt$ln=18,r=8,p=5$" + b64(salt16) + "$" + key, "N·r·p = 10485760 is above the limit of 8388608"},
		{"fail/scrypt p 17", "$scrypt$ln=4,r=1,p=17$" + b64(salt16) + "$" + key, "parallelism p = 17"},
		{"fail/yescrypt r 64", "$y$j9z$abcdefgh$" + strings.Repeat("a", 43), "r = 64"},
		{"fail/scrypt p 0", "$scrypt$ln=10,r=8,p=0$" + b64(salt16) + "$" + key, "p = 0"},
		{"fail/scrypt unknown parameter", "$scrypt$ln=10,x=8$" + b64(salt16) + "$" + key, "unknown parameter"},
		{"fail/yescrypt N 2^30", "$y$jS5$" + "abcdefgh" + "$" + strings.Repeat("a", 43), "N = 2^"},
		{"fail/pbkdf2 11M iterations", "$pbkdf2-sha256$11000000$" + b64(salt16) + "$" + key, "iterations 11000000 are above the limit of 2000000"},
		{"fail/pbkdf2 2000001 iterations", "$pbkdf2-sha512$2000001$" + b64(salt16) + "$" + b64(make([]byte, 64)), "iterations 2000001"},
		{"fail/pbkdf2-sha1 2M iterations of 64 bytes", "$pbkdf2$2000000$" + b64(salt16) + "$" + b64(make([]byte, 64)), "4 blocks are above the limit of 4000000"},
		{"fail/pbkdf2 long key", "$pbkdf2-sha256$1000$" + b64(salt16) + "$" + b64(make([]byte, 96)), "longer than 64 bytes"},
		{"fail/pbkdf2 PHC i= form", "$pbkdf2-sha256$i=1000,l=32$" + b64(salt16) + "$" + key, "iteration count"},
		{"fail/pbkdf2 bad salt", "$pbkdf2-sha256$1000$!!!!$" + key, "salt"},
		{"fail/sha512-crypt rounds", "$6$rounds=2000000$salt$" + strings.Repeat("a", 86), "rounds 2000000 are outside 1000 to 1000000"},
		{"fail/argon2 8 GiB", "$argon2id$v=19$m=8388608,t=1,p=1$" + b64(salt16) + "$" + key, "memory"},
		{"fail/argon2 4 GiB", "$argon2id$v=19$m=4194304,t=1,p=1$" + b64(salt16) + "$" + key, "memory m=4194304 KiB is above the limit of 262144 KiB (256 MiB)"},
		{"fail/argon2 256 MiB + 1 KiB", "$argon2d$v=19$m=262145,t=1,p=1$" + b64(salt16) + "$" + key, "memory m=262145 KiB"},
		{"fail/argon2 100 iterations", "$argon2i$v=19$m=8192,t=100,p=1$" + b64(salt16) + "$" + key, "iterations"},
		{"fail/argon2 64 iterations", "$argon2id$v=19$m=8192,t=64,p=1$" + b64(salt16) + "$" + key, "iterations t=64 are above the limit of 10"},
		{"fail/argon2 11 iterations", "$argon2i$v=19$m=8192,t=11,p=1$" + b64(salt16) + "$" + key, "iterations t=11"},
		{"fail/argon2 17 lanes", "$argon2id$v=19$m=8192,t=1,p=17$" + b64(salt16) + "$" + key, "parallelism p=17 is above the limit of 16"},
		{"fail/argon2 version 16", "$argon2id$v=16$m=8192,t=1,p=1$" + b64(salt16) + "$" + key, "version 19"},
		{"fail/argon2 missing parameter", "$argon2id$v=19$m=8192,t=1$" + b64(salt16) + "$" + key, "required"},
		{"fail/argon2 zero lanes", "$argon2d$v=19$m=8192,t=1,p=0$" + b64(salt16) + "$" + key, "required and positive"},
		{"fail/argon2 bad key", "$argon2id$v=19$m=8192,t=1,p=1$" + b64(salt16) + "$###", "hash value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Supported(tc.stored)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Supported = %v, want ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
			if len(tc.stored) > 12 && strings.Contains(err.Error(), tc.stored[len(tc.stored)-12:]) {
				t.Fatalf("error %q quotes the hash", err)
			}
			if ok, upgrade, verr := NewHasher(cheap, 1).VerifyAny(context.Background(), pw, tc.stored); ok || !upgrade || verr == nil {
				t.Fatalf("VerifyAny = %v, %v, %v; want false, true, an error", ok, upgrade, verr)
			}
		})
	}
}

// SHA-crypt hashes the password again in every round: a password longer
// than 256 bytes is not verified against it, so that a sign-in with a
// long password cannot make a high-round hash cost seconds.
func TestVerifyAnyBoundsSHACryptPasswordLength(t *testing.T) {
	h := NewHasher(cheap, 1)
	for _, tc := range []struct {
		name  string
		n     int
		match bool
	}{{"ok/256 bytes", 256, true}, {"fail/257 bytes", 257, false}, {"fail/1024 bytes", 1024, false}} {
		t.Run(tc.name, func(t *testing.T) {
			long := strings.Repeat("p", tc.n)
			stored := libraryHash(t, func() (algorithm.Hash, error) { return shacrypt.New(shacrypt.WithSHA512(), shacrypt.WithRounds(1000)) }, long)
			ok, upgrade, err := h.VerifyAny(context.Background(), long, stored)
			if ok != tc.match || !upgrade || err != nil {
				t.Fatalf("VerifyAny = %v, %v, %v; want %v, true, nil", ok, upgrade, err, tc.match)
			}
		})
	}
}

func TestVerifyAnyWaitsForASlot(t *testing.T) {
	h := NewHasher(cheap, 1)
	h.slots <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := h.VerifyAny(ctx, pw, bcryptHash(t, pw, 4)); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyAny with every slot taken = %v, want context.Canceled", err)
	}
	if h.Concurrency() != 1 {
		t.Fatalf("Concurrency = %d", h.Concurrency())
	}
}

// withinBounds reads the cost of a hash as the library encodes it, apart
// from the checks of formats.go, and reports one beyond the documented
// bounds.
func withinBounds(encoded string) error {
	num := func(s string) uint64 {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return math.MaxUint64
		}
		return n
	}
	if m := regexp.MustCompile(`^\$argon2(?:id|i|d)\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$`).FindStringSubmatch(encoded); m != nil {
		if num(m[1]) > 256<<10 || num(m[2]) > 10 || num(m[3]) > 16 {
			return fmt.Errorf("argon2 m=%s t=%s p=%s", m[1], m[2], m[3])
		}
		return nil
	}
	if m := regexp.MustCompile(`^\$2[aby]?\$(\d+)\$|^\$bcrypt-sha256\$.*r=(\d+)`).FindStringSubmatch(encoded); m != nil {
		if num(m[1]+m[2]) > 14 {
			return fmt.Errorf("bcrypt cost %s%s", m[1], m[2])
		}
		return nil
	}
	if m := regexp.MustCompile(`^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$`).FindStringSubmatch(encoded); m != nil {
		ln, r, p := num(m[1]), num(m[2]), num(m[3])
		if ln > 20 || r > 32 || p > 16 || 128*r<<ln > 256<<20 || r*p<<ln > 1<<23 {
			return fmt.Errorf("scrypt ln=%d r=%d p=%d", ln, r, p)
		}
		return nil
	}
	if m := regexp.MustCompile(`^\$y\$([^$]+)\$`).FindStringSubmatch(encoded); m != nil {
		_, ln, r, err := yescrypt.DecodeSetting([]byte(m[1]))
		if err != nil || ln > 20 || r > 32 || 128*uint64(r)<<ln > 256<<20 || uint64(r)<<ln > 1<<23 {
			return fmt.Errorf("yescrypt ln=%d r=%d (%v)", ln, r, err)
		}
		return nil
	}
	if m := regexp.MustCompile(`^\$pbkdf2(?:-sha\d+)?\$(\d+)\$`).FindStringSubmatch(encoded); m != nil {
		if num(m[1]) > 2_000_000 {
			return fmt.Errorf("pbkdf2 %s iterations", m[1])
		}
		return nil
	}
	if m := regexp.MustCompile(`^\$[56]\$(?:rounds=(\d+)\$)?`).FindStringSubmatch(encoded); m != nil {
		if m[1] != "" && num(m[1]) > 1_000_000 {
			return fmt.Errorf("sha-crypt %s rounds", m[1])
		}
		return nil
	}
	return errors.New("a format Supported does not admit")
}

func FuzzSupported(f *testing.F) {
	b64 := base64.RawStdEncoding.EncodeToString
	for _, s := range []string{
		"$2b$10$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$argon2id$v=19$m=8192,t=1,p=1$" + b64(salt16) + "$" + b64(salt16),
		"$scrypt$ln=10,r=8,p=1$" + b64(salt16) + "$" + b64(salt16),
		"$y$j9T$abcdefgh$" + strings.Repeat("a", 43),
		"$pbkdf2-sha512$1000$" + b64(salt16) + "$" + b64(salt16),
		"$6$rounds=5000$salt$" + strings.Repeat("a", 86),
		"$bcrypt-sha256$v=2,t=2b,r=12$" + strings.Repeat("a", 22) + "$" + strings.Repeat("a", 31),
		// At and just beyond the bounds.
		"$2b$04$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2y$14$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$15$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$argon2id$v=19$m=262144,t=10,p=16$" + b64(salt16) + "$" + b64(salt16),
		"$argon2i$v=19$m=4194304,t=64,p=255$" + b64(salt16) + "$" + b64(salt16),
		"$argon2d$v=19$m=8192,t=1,p=1,m=4194304$" + b64(salt16) + "$" + b64(salt16),
		"$scrypt$ln=18,r=8,p=4$" + b64(salt16) + "$" + b64(salt16),
		"$scrypt$ln=20,r=8,p=1$" + b64(salt16) + "$" + b64(salt16),
		"$scrypt$r=32,p=16$" + b64(salt16) + "$" + b64(salt16),
		"$y$jBT$abcdefgh$" + strings.Repeat("a", 43),
		"$pbkdf2$2000000$" + b64(salt16) + "$" + b64(make([]byte, 64)),
		"$pbkdf2-sha256$2000001$" + b64(salt16) + "$" + b64(salt16),
		"$6$rounds=1000000$salt$" + strings.Repeat("a", 86),
		"$5$rounds=1000001$salt$" + strings.Repeat("a", 43),
		"{ARGON2}$argon2id$v=19$m=524288,t=1,p=1$" + b64(salt16) + "$" + b64(salt16),
		"{CRYPT}$5$salt$" + strings.Repeat("a", 43),
		"{PBKDF2-SHA256}1000$abc$def",
		"$$$", "$", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := Supported(s)
		if err == nil {
			// The library read the parameters that the bounds were checked
			// on: its own encoding of the digest passes them too.
			d, err := inspect(s)
			if err != nil {
				t.Fatalf("inspect disagrees with Supported on %q: %v", s, err)
			}
			if err := Supported(libraryReading(d)); err != nil {
				t.Fatalf("Supported(%q) accepted, its re-encoding %q not: %v", s, d.Encode(), err)
			}
			if err := withinBounds(d.Encode()); err != nil {
				t.Fatalf("Supported(%q) accepted a hash the library reads as %q: %v", s, d.Encode(), err)
			}
			return
		}
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Supported(%q) = %v, not ErrUnsupported", s, err)
		}
		// No salt or hash text of 8 characters or more comes back; format
		// names and numbers (a cost out of bounds) may.
		msg := err.Error()
		for _, name := range []string{"bcrypt-sha256", "pbkdf2-sha", "sha256-crypt", "sha512-crypt", "yescrypt", "argon2"} {
			msg = strings.ReplaceAll(msg, name, "")
		}
		for i, field := range strings.Split(s, "$") {
			if _, err := strconv.ParseUint(field, 10, 64); err == nil {
				continue
			}
			if i != 1 && len(field) >= 8 && strings.Contains(msg, field) {
				t.Fatalf("error %q quotes the hash %q", err, s)
			}
		}
	})
}
