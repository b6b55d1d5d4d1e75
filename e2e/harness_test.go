package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database/dbtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "castellan-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "castellan")
	build := exec.Command("go", "build", "-o", binary, "../cmd/castellan")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build castellan:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	url    string
	done   chan error
	// client reaches the server; it trusts the test certificate when the
	// server speaks TLS.
	client *http.Client
}

// handedOut are the ports freePort returned: the system may offer a port
// again as soon as its probe closed, before the server given it listens.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freePort returns a loopback port that was free a moment ago and that
// no other server of this test binary was given.
func freePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
}

// backend is where a test's Castellan keeps its data.
type backend struct {
	name string
	env  []string
}

// backends returns a fresh SQLite data directory and a fresh PostgreSQL
// schema (the latter skipping, or failing under CI, without PostgreSQL).
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, backend{name: "sqlite", env: []string{"CASTELLAN_DATA_DIR=" + t.TempDir()}})
	})
	t.Run("postgres", func(t *testing.T) {
		src := dbtest.Backends()[1].New(t)
		fn(t, backend{name: "postgres", env: []string{
			"CASTELLAN_DATA_DIR=" + t.TempDir(),
			"CASTELLAN_DATABASE=" + src.URL(),
			"CASTELLAN_KEYS_MASTER=e2e:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		}})
	})
}

// start runs `castellan start` on a free port and waits until it is ready.
func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := launch(t, env, args...)
	p.waitReady(t)
	return p
}

// startTLS is start for a server with a certificate client trusts.
func startTLS(t testing.TB, client *http.Client, env []string, args ...string) *proc {
	t.Helper()
	p := launch(t, env, args...)
	p.client = client
	p.waitReady(t)
	return p
}

func launch(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	port := freePort(t)
	scheme := "http"
	if slices.Contains(args, "--tls-cert-file") {
		scheme = "https"
	}
	p := &proc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, url: fmt.Sprintf("%s://localhost:%d", scheme, port), done: make(chan error, 1),
		client: http.DefaultClient}
	p.cmd = exec.Command(binary, append([]string{"start", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("castellan stdout:\n%s\ncastellan stderr:\n%s", p.stdout, p.stderr)
		}
	})
	return p
}

// cleanEnv is the test's environment without Castellan settings, so that a
// developer's own CASTELLAN_ variables cannot change what a test runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CASTELLAN_") {
			env = append(env, kv)
		}
	}
	return append(env, "CASTELLAN_PASSWORDS_ARGON2ID_MEMORY_KIB=8192", "CASTELLAN_PASSWORDS_ARGON2ID_ITERATIONS=1")
}

func (p *proc) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("castellan exited before it was ready: %v\nstderr:\n%s", err, p.stderr)
		default:
		}
		resp, err := p.client.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("castellan not ready after 20s\nstderr:\n%s", p.stderr)
}

// waitStdout waits until the process has printed want (output is copied
// from the pipe asynchronously) and returns all of stdout.
func (p *proc) waitStdout(t testing.TB, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stdout.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("castellan did not print %q; stdout:\n%s", want, p.stdout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p.stdout.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("castellan exited with %v after SIGTERM\nstderr:\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("castellan did not stop within 30s of SIGTERM")
	}
}

// castellan runs a one-shot CLI command and returns its output and error.
func castellan(t testing.TB, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func get(t testing.TB, client *http.Client, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// firstStartLines returns the lines of the first-start notice.
func firstStartLines(stdout string) map[string]string {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}
