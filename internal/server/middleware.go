package server

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
)

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush lets streaming responses (server-streaming RPCs) through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		s.duration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) accessLog(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelError
		}
		// Only the path: query strings and headers can carry secrets.
		s.opts.Logger.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start), "host", r.Host, "proto", r.Proto)
	})
}

func (s *Server) recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.opts.Logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
				WriteError(w, r, failure.Internal(nil, "panic"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// The headers every response starts with, as shared slices: a response
// costs no allocation for them. A handler that changes one replaces the
// slice (Header.Set) or appends beyond its capacity (Header.Add), so the
// shared values are never written to.
var (
	securityHeaderValues = http.Header{
		"X-Content-Type-Options": {"nosniff"},
		"X-Frame-Options":        {"DENY"},
		"Referrer-Policy":        {"no-referrer"},
		// Each route group sets its Content-Security-Policy (groups.go);
		// this one holds for a response no group wrote, such as an error
		// of instance resolution.
		"Content-Security-Policy":      {apiCSP},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
	}
	hstsValue    = []string{"max-age=31536000"}
	apiCSPValue  = []string{apiCSP}
	noStoreValue = []string{"no-store"}
)

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		for k, v := range securityHeaderValues {
			hdr[k] = v
		}
		if r.TLS != nil {
			hdr["Strict-Transport-Security"] = hstsValue
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) resolveInstance(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inst, err := s.opts.Resolver.ByHost(r.Context(), r.Host)
		if err != nil {
			if _, unavailable := DatabaseUnavailable(err); unavailable {
				s.opts.Logger.Warn("database unavailable", "path", r.URL.Path, "err", err)
			} else if !failure.Is(err, failure.KindNotFound) {
				s.opts.Logger.Error("resolve instance", "host", r.Host, "err", err)
			}
			WriteError(w, r, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(instance.WithContext(r.Context(), inst)))
	})
}
