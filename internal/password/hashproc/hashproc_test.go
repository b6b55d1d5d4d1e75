package hashproc

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestRefusesBadRequests: a request beyond the bounds
// ends the process with an error before it allocates anything.
func TestRefusesBadRequests(t *testing.T) {
	good := Request{MemoryKiB: 8, Iterations: 1, Parallelism: 1, KeyLen: 32, Salt: []byte("saltsalt"), Password: []byte("pw")}
	for name, change := range map[string]func(r *Request){
		"memory above the bound":  func(r *Request) { r.MemoryKiB = MaxMemoryKiB + 1 },
		"memory below 8 per lane": func(r *Request) { r.Parallelism = 2; r.MemoryKiB = 15 },
		"no iterations":           func(r *Request) { r.Iterations = 0 },
		"iterations above":        func(r *Request) { r.Iterations = MaxIterations + 1 },
		"no lanes":                func(r *Request) { r.Parallelism = 0 },
		"lanes above":             func(r *Request) { r.Parallelism = MaxParallelism + 1 },
		"short key":               func(r *Request) { r.KeyLen = 3 },
		"long salt":               func(r *Request) { r.Salt = make([]byte, MaxSalt+1) },
	} {
		r := good
		change(&r)
		var out bytes.Buffer
		if err := Serve(bytes.NewReader(AppendRequest(nil, r)), &out, func() {}); !errors.Is(err, ErrRequest) || out.Len() > 0 {
			t.Errorf("%s: %v, %d bytes out", name, err, out.Len())
		}
	}
	var out bytes.Buffer
	in := AppendRequest(AppendRequest(nil, good), good)
	if err := Serve(bytes.NewReader(in[:len(in)-1]), &out, func() {}); !errors.Is(err, io.ErrUnexpectedEOF) || out.Len() != 32 {
		t.Errorf("truncated second request: %v, %d bytes out", err, out.Len())
	}
}

// FuzzRequest: whatever arrives on a hashing process's input, it
// answers keys of the requests it reads (as x/crypto computes them) or
// ends with an error, never allocating beyond its bounds.
func FuzzRequest(f *testing.F) {
	f.Add(AppendRequest(nil, Request{MemoryKiB: 8, Iterations: 1, Parallelism: 1, KeyLen: 16, Salt: []byte("s"), Password: []byte("p")}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1, 32, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		// Memory up to 64 KiB only, so that the fuzzer stays fast; the
		// bounds themselves are TestRefusesBadRequests'.
		if len(in) >= 4 && uint32(in[0])|uint32(in[1])<<8|uint32(in[2])<<16|uint32(in[3])<<24 > 64 {
			return
		}
		var out bytes.Buffer
		err := Serve(bytes.NewReader(in), &out, func() {})
		r, _, rerr := ReadRequest(bytes.NewReader(in), nil)
		if rerr == nil {
			want := argon2.IDKey(r.Password, r.Salt, r.Iterations, r.MemoryKiB, r.Parallelism, uint32(r.KeyLen))
			if !bytes.HasPrefix(out.Bytes(), want) {
				t.Fatalf("first key %x, want %x", out.Bytes(), want)
			}
		} else if out.Len() > 0 || err == nil && len(in) > 0 {
			t.Fatalf("unreadable request answered %d bytes, error %v", out.Len(), err)
		}
	})
}

// TestImportsStayEarly: the package imports only packages that Go
// initializes early in the binary's order, so that a hashing process runs
// little before it serves (the package doc). An import added here must
// be checked with GODEBUG=inittrace=1 castellan version: this package
// should stay before google.golang.org/protobuf; runtime/debug, for one,
// would move it after nearly everything.
func TestImportsStayEarly(t *testing.T) {
	allowed := map[string]bool{"bufio": true, "encoding/binary": true, "errors": true, "fmt": true, "io": true, "os": true,
		"runtime": true, "golang.org/x/crypto/argon2": true, "golang.org/x/sys/unix": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); !allowed[path] {
				t.Errorf("%s imports %s, not known to initialize early", name, path)
			}
		}
	}
}
