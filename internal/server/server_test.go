package server

import (
	"bytes"
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
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
)

type fakeResolver map[string]instance.Instance

func (f fakeResolver) ByHost(_ context.Context, host string) (instance.Instance, error) {
	if inst, ok := f[instance.NormalizeDomain(host)]; ok {
		return inst, nil
	}
	return instance.Instance{}, failure.NotFound("no instance serves the host %q", host)
}

func newTestServer(log *slog.Logger, ready error) *Server {
	return New(Options{
		Logger:   log,
		Resolver: fakeResolver{"a.test": {ID: "inst-a", Name: "A"}, "b.test": {ID: "inst-b", Name: "B"}},
		Ready:    func(context.Context) error { return ready },
		Metrics:  prometheus.NewRegistry(),
	})
}

func TestRequestsReachOnlyTheirInstance(t *testing.T) {
	var logs bytes.Buffer
	s := newTestServer(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	s.Handle("GET /whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inst, _ := instance.FromContext(r.Context())
		io.WriteString(w, inst.ID)
	}))
	for _, tc := range []struct {
		name, host, path string
		status           int
		body             string
	}{
		{"ok/host a", "a.test", "/whoami", 200, "inst-a"},
		{"ok/host b with port and case", "B.Test:8443", "/whoami", 200, "inst-b"},
		{"fail/unknown host", "c.test", "/whoami", 404, "no instance serves"},
		{"ok/health on any host", "c.test", "/healthz", 200, "alive"},
		{"fail/unknown route", "a.test", "/nope?code=secret-code", 404, "no route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Fatal("security headers missing")
			}
		})
	}
	if strings.Contains(logs.String(), "secret-code") {
		t.Fatal("the access log recorded a query string")
	}
}

func TestReadiness(t *testing.T) {
	s := newTestServer(slog.New(slog.DiscardHandler), errors.New("3 migrations pending"))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "migrations pending") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestErrorsRenderAsProblems(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		want   string
		hidden string
	}{
		{failure.InvalidArgument("email", "not an email address"), 400, `"field":"email"`, ""},
		{failure.Conflict("changed"), 409, "changed", ""},
		{failure.Internal(errors.New("password=hunter2"), "db down"), 500, "internal error", "hunter2"},
		{failure.Internal(fmt.Errorf("password=hunter2: %w", driver.ErrBadConn), "read"), 503, "database is unavailable", "hunter2"},
		{failure.Unavailable("no SMS provider is configured"), 503, "no SMS provider", ""},
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), tc.err)
		body := rec.Body.String()
		if rec.Code != tc.status || !strings.Contains(body, tc.want) || rec.Header().Get("Content-Type") != "application/problem+json" ||
			(tc.hidden != "" && strings.Contains(body, tc.hidden)) {
			t.Errorf("%v: %d %s", tc.err, rec.Code, body)
		}
		// Only a database outage is worth retrying by itself.
		if retry := rec.Header().Get("Retry-After"); (retry == RetryAfter) != strings.Contains(tc.want, "database") {
			t.Errorf("%v: Retry-After %q", tc.err, retry)
		}
	}
}

func TestShutdownFinishesInFlightRequests(t *testing.T) {
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	entered, release := make(chan struct{}), make(chan struct{})
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	}))
	addr, shutdown, served := startServing(t, s, ServeOptions{ShutdownTimeout: 10 * time.Second})

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/slow", nil)
		req.Host = "a.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	shutdown()
	for deadline := time.Now().Add(5 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the listener is closed: no new connections
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections while shutting down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
}
