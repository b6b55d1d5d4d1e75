// Package hashproc is the hashing process's side of package password's
// isolated hashes: the protocol on its pipes and the loop that answers
// them. A hashing process is the running binary started again with Env
// set to Protocol; this package's init turns it into Serve before the
// program's main runs.
//
// It is a package of its own, importing only the standard library,
// golang.org/x/crypto/argon2 and golang.org/x/sys, so that Go initializes
// it early: a program's packages are initialized in dependency order, the
// first by import path among those ready, and a hashing process runs only
// what was initialized before this package. From package password (which
// imports the error codes, and through them net/http, Connect and
// protobuf), the binary's JSON Schema metaschemas, protobuf registries,
// configuration and templates were initialized first: 2.8 MB allocated
// and kept for the process's life, 4.2 MiB of anonymous memory before
// its first hash, 28 ms from its start to its first answer. From here
// (the 86th of about 300 packages; GODEBUG=inittrace=1 shows the order):
// 0.1 MB, 1.5 MiB and 6.5 ms. Every import of this package must stay
// early in that order (see init).
package hashproc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/crypto/argon2"
)

// Env, set to Protocol, makes a program that links this package a
// hashing process.
const (
	Env      = "CASTELLAN_PASSWORD_WORKER"
	Protocol = "1"
)

// Bounds of one request: parameters as package password's MaxParams, the
// key as its longest derived key, the salt as its longest stored hash; a
// hash outside them is computed in the server instead.
const (
	MaxMemoryKiB   = 256 << 10
	MaxIterations  = 10
	MaxParallelism = 16
	MaxKeyLen      = 128
	MaxSalt        = 1024
	MaxPassword    = 64 << 10
	// HeaderLen is a request's fixed part.
	HeaderLen = 4 + 4 + 1 + 1 + 2 + 4
)

func init() {
	if os.Getenv(Env) == Protocol {
		// The collector is off (GOGC=off in the environment: Environ)
		// and runs after each hash: the hash's memory becomes free pages
		// of the heap, which no scavenger hands back (it keeps memory for
		// a heap goal, and there is none), and the next hash reuses them.
		// The server hands a process's memory back by ending it and
		// starting a fresh one (package password); runtime/debug, which
		// could hand it back in place, is initialized late in the
		// program's order (its path sorts after most of the binary's),
		// and importing it would make this package wait for it.
		noHugePages()
		if err := Serve(os.Stdin, os.Stdout, runtime.GC); err != nil {
			fmt.Fprintln(os.Stderr, "password hashing process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// Environ is a hashing process's whole environment: the protocol, the
// collector off, and the server's GOMAXPROCS if set (no database address,
// no keys).
func Environ() []string {
	env := []string{Env + "=" + Protocol, "GOGC=off"}
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		env = append(env, "GOMAXPROCS="+v)
	}
	return env
}

// Request is one hash: argon2id of Password and Salt at MemoryKiB,
// Iterations and Parallelism, KeyLen bytes long.
type Request struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	KeyLen      uint8
	Salt        []byte
	Password    []byte
}

// ErrRequest is a request a hashing process refuses.
var ErrRequest = errors.New("malformed hash request")

// AppendRequest encodes r: memory, iterations (little-endian uint32),
// parallelism, key length, salt length (uint16), password length
// (uint32), the salt, the password.
func AppendRequest(b []byte, r Request) []byte {
	b = binary.LittleEndian.AppendUint32(b, r.MemoryKiB)
	b = binary.LittleEndian.AppendUint32(b, r.Iterations)
	b = append(b, r.Parallelism, r.KeyLen)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Salt)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Password)))
	b = append(b, r.Salt...)
	return append(b, r.Password...)
}

// ReadRequest reads one request from in into buf (reused between
// requests), checking every field against the bounds before it reads the
// variable parts. io.EOF before the first byte means the server closed
// the pipe.
func ReadRequest(in io.Reader, buf []byte) (Request, []byte, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(in, h[:]); err != nil {
		return Request{}, buf, err
	}
	r := Request{
		MemoryKiB:   binary.LittleEndian.Uint32(h[0:]),
		Iterations:  binary.LittleEndian.Uint32(h[4:]),
		Parallelism: h[8],
		KeyLen:      h[9],
	}
	saltLen, pwLen := int(binary.LittleEndian.Uint16(h[10:])), int(binary.LittleEndian.Uint32(h[12:]))
	switch {
	case r.Iterations < 1 || r.Iterations > MaxIterations,
		r.Parallelism < 1 || r.Parallelism > MaxParallelism,
		r.MemoryKiB < 8*uint32(r.Parallelism) || r.MemoryKiB > MaxMemoryKiB,
		r.KeyLen < 4 || int(r.KeyLen) > MaxKeyLen,
		saltLen > MaxSalt, pwLen > MaxPassword:
		return Request{}, buf, ErrRequest
	}
	n := saltLen + pwLen
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(in, buf); err != nil {
		return Request{}, buf, io.ErrUnexpectedEOF
	}
	r.Salt, r.Password = buf[:saltLen], buf[saltLen:]
	return r, buf, nil
}

// Serve answers hash requests from in on out until in ends, calling
// afterHash after each answer.
func Serve(in io.Reader, out io.Writer, afterHash func()) error {
	r, w := bufio.NewReader(in), bufio.NewWriter(out)
	var buf []byte
	for {
		req, next, err := ReadRequest(r, buf)
		buf = next
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		key := argon2.IDKey(req.Password, req.Salt, req.Iterations, req.MemoryKiB, req.Parallelism, uint32(req.KeyLen))
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
