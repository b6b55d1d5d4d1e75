package server

import (
	"bufio"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
)

// testLimits are short so that the tests wait little; the defaults are in
// the configuration (server.*).
var testLimits = Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 500 * time.Millisecond, MaxHeaderBytes: 4096}

// serveForTest serves h with limits on a loopback port and returns its
// address; the test's cleanup shuts it down.
func serveForTest(t *testing.T, h http.Handler, limits Limits) string {
	t.Helper()
	addr, shutdown, served := startServing(t, h, ServeOptions{Limits: limits, ShutdownTimeout: time.Second})
	t.Cleanup(func() {
		shutdown()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

// startServing runs Serve for h on a loopback port with opts (a discarding
// logger unless set): its address, the shutdown (as SIGTERM does), and
// Serve's result once it returns.
func startServing(t *testing.T, h http.Handler, opts ServeOptions) (addr string, shutdown func(), served <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- Serve(ctx, ln, h, opts) }()
	return ln.Addr().String(), cancel, result
}

// closedWithin reads from conn until the server closes it and reports how
// long that took, failing the test if it stays open longer than limit.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", limit)
	}
	return string(b)
}

// A slowloris client opens many connections and sends each request's
// headers a byte at a time, never finishing them. The server disconnects
// every one of them once the read-header timeout has passed.
func TestSlowHeadersAreCutOffAfterTheReadHeaderTimeout(t *testing.T) {
	addr := serveForTest(t, newTestServer(slog.New(slog.DiscardHandler), nil), testLimits)
	const clients = 50
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			began := time.Now()
			if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: a.test\r\n"); err != nil {
				t.Error(err)
				return
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() { // one more header byte every 50ms, forever
				tick := time.NewTicker(50 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte("X")); err != nil {
							return
						}
					}
				}
			}()
			got := closedWithin(t, conn, 5*time.Second)
			if took := time.Since(began); took < testLimits.ReadHeaderTimeout-50*time.Millisecond || strings.Contains(got, "200 OK") {
				t.Errorf("closed after %s with %q", took, got)
			}
		})
	}
	wg.Wait()
}

// A client that sends its headers at once but trickles the body is cut off
// once the read timeout has passed: the handler's read fails and the
// connection closes.
func TestSlowBodyIsCutOffAfterTheReadTimeout(t *testing.T) {
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	readErr := make(chan error, 1)
	s.Handle("POST /upload", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		if err != nil {
			WriteError(w, r, failure.InvalidArgument("", "the body could not be read"))
		}
	}))
	conn, err := net.Dial("tcp", serveForTest(t, s, testLimits))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 1000 {
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	closedWithin(t, conn, 5*time.Second)
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the handler read the whole trickled body")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler is still reading")
	}
}

// A keep-alive connection without a next request is closed after the idle
// timeout.
func TestIdleConnectionsAreClosedAfterTheIdleTimeout(t *testing.T) {
	conn, err := net.Dial("tcp", serveForTest(t, newTestServer(slog.New(slog.DiscardHandler), nil), testLimits))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	began := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v", err)
	}
	if took := time.Since(began); took < testLimits.IdleTimeout-50*time.Millisecond {
		t.Fatalf("closed after %s, before the idle timeout", took)
	}
}

func TestOversizedHeadersGet431(t *testing.T) {
	addr := serveForTest(t, newTestServer(slog.New(slog.DiscardHandler), nil), testLimits)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
	req.Host = "a.test"
	// net/http allows 4096 bytes beyond MaxHeaderBytes for the request line.
	req.Header.Set("X-Padding", strings.Repeat("p", 3*testLimits.MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
	req.Header.Set("X-Padding", strings.Repeat("p", testLimits.MaxHeaderBytes/2))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("headers within the limit: status %d", resp.StatusCode)
	}
}

func TestMetricsAreNotPublishedOnTheMainListener(t *testing.T) {
	get := func(h http.Handler, remoteAddr, host string, header http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.RemoteAddr, req.Host = remoteAddr, host
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	t.Run("without a management listener: loopback callers only", func(t *testing.T) {
		s := newTestServer(slog.New(slog.DiscardHandler), nil)
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil)) // a first sample
		for _, tc := range []struct {
			name, remote string
			header       http.Header
			status       int
		}{
			{"ok/IPv4 loopback", "127.0.0.1:5555", nil, 200},
			{"ok/IPv6 loopback", "[::1]:5555", nil, 200},
			{"fail/remote caller", "203.0.113.7:5555", nil, 403},
			{"fail/private network caller", "10.1.2.3:5555", nil, 403},
			{"fail/forwarded by a local proxy", "127.0.0.1:5555", http.Header{"X-Forwarded-For": {"203.0.113.7"}}, 403},
			{"fail/forwarded by a local proxy (RFC 7239)", "127.0.0.1:5555", http.Header{"Forwarded": {"for=203.0.113.7"}}, 403},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rec := get(s, tc.remote, "any.host", tc.header)
				if rec.Code != tc.status || (tc.status == 200) != strings.Contains(rec.Body.String(), "castellan_http_requests_total") {
					t.Fatalf("%d %.200s", rec.Code, rec.Body)
				}
			})
		}
	})
	t.Run("with a management listener: only there", func(t *testing.T) {
		s := New(Options{
			Logger: slog.New(slog.DiscardHandler), Resolver: fakeResolver{"a.test": {ID: "inst-a"}},
			Ready: func(context.Context) error { return nil }, Metrics: prometheus.NewRegistry(), SeparateManagement: true,
		})
		s.Handle("GET /whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "inst") }))
		if rec := get(s, "127.0.0.1:5555", "a.test", nil); rec.Code != http.StatusNotFound {
			t.Fatalf("main listener: %d %.200s", rec.Code, rec.Body)
		}
		m := s.Management()
		if rec := get(m, "10.1.2.3:5555", "any.host", nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "castellan_http_requests_total") {
			t.Fatalf("management listener: %d %.200s", rec.Code, rec.Body)
		}
		for path, status := range map[string]int{"/healthz": 200, "/readyz": 200, "/whoami": 404, "/": 404} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = "a.test"
			rec := httptest.NewRecorder()
			m.ServeHTTP(rec, req)
			if rec.Code != status {
				t.Errorf("management %s: %d", path, rec.Code)
			}
		}
	})
}

// unavailableResolver fails as a database that refuses connections does.
type unavailableResolver struct{}

func (unavailableResolver) ByHost(context.Context, string) (instance.Instance, error) {
	return instance.Instance{}, fmt.Errorf("instance: by host: %w", driver.ErrBadConn)
}

func TestUnavailableDatabaseAnswers503WithRetryAfter(t *testing.T) {
	var logs strings.Builder
	s := New(Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Resolver: unavailableResolver{},
		Ready: func(context.Context) error { return nil }, Metrics: prometheus.NewRegistry(),
	})
	req := httptest.NewRequest(http.MethodGet, "/v1/anything", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != RetryAfter ||
		!strings.Contains(rec.Body.String(), `"title":"unavailable"`) || strings.Contains(rec.Body.String(), "bad connection") {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if n := strings.Count(logs.String(), "database unavailable"); n != 1 || !strings.Contains(logs.String(), "bad connection") {
		t.Fatalf("want one log line naming the cause:\n%s", logs.String())
	}
}
