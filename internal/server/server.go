package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/castellan-iam/castellan/internal/clientaddr"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
)

// InstanceResolver finds the instance serving a host.
type InstanceResolver interface {
	ByHost(ctx context.Context, host string) (instance.Instance, error)
}

// Options are the server's dependencies.
type Options struct {
	Logger   *slog.Logger
	Resolver InstanceResolver
	// Ready reports whether the server can take traffic (database reachable,
	// migrations applied).
	Ready func(ctx context.Context) error
	// Metrics is the registry served on /metrics; the server registers its
	// HTTP metrics in it.
	Metrics *prometheus.Registry
	// ExternalURL is the public base URL; each instance's issuer takes its
	// scheme and port (instance.Instance.Issuer).
	ExternalURL string
	// SeparateManagement says that Management is served on a listener of
	// its own; the main handler then does not serve /metrics at all.
	// Without it, the main handler serves /metrics to loopback callers only
	// (see metricsGuard).
	SeparateManagement bool
	// ClientCertificates say where OAuth requests' client certificates
	// come from besides the TLS connection (mtls.go).
	ClientCertificates ClientCertificateOptions
	// ClientAddresses finds each request's client address (behind trusted
	// proxies, the forwarded one) and puts it in the request's context
	// (package clientaddr).
	ClientAddresses clientaddr.Resolver
}

// Server routes requests. Register instance routes with Handle before
// serving.
type Server struct {
	opts       Options
	root       *http.ServeMux
	tenant     *http.ServeMux
	management *http.ServeMux
	certs      *certSource
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

// New returns a Server with the operational endpoints and the instance root.
func New(opts Options) *Server {
	s := &Server{
		opts:   opts,
		root:   http.NewServeMux(),
		tenant: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "castellan_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "castellan_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
	}
	opts.Metrics.MustRegister(s.requests, s.duration)
	s.certs = newCertSource(opts.ClientCertificates, opts.Logger, opts.Metrics)
	healthz := s.instrument("/healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	}))
	readyz := s.instrument("/readyz", http.HandlerFunc(s.readyz))
	metrics := s.instrument("/metrics", promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{}))
	healthz, readyz, metrics = s.inGroup(GroupAPI, healthz), s.inGroup(GroupAPI, readyz), s.inGroup(GroupAPI, metrics)
	s.root.Handle("GET /healthz", healthz)
	s.root.Handle("GET /readyz", readyz)
	s.management = http.NewServeMux()
	s.management.Handle("GET /healthz", healthz)
	s.management.Handle("GET /readyz", readyz)
	s.management.Handle("GET /metrics", metrics)
	if !opts.SeparateManagement {
		s.root.Handle("GET /metrics", metricsGuard(metrics))
	}
	s.root.Handle("/", s.resolveInstance(s.tenant))
	s.Handle("GET /{$}", http.HandlerFunc(s.instanceRoot))
	s.tenant.Handle("/", s.instrument("unmatched", s.inGroup(GroupAPI, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, failure.NotFound("no route for %s %s", r.Method, r.URL.Path))
	}))))
	return s
}

// Handle registers an instance route in the group its path belongs to
// (GroupOf); its pattern is also its metrics label.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.tenant.Handle(pattern, s.instrument(pattern, s.inGroup(GroupOf(pattern), h)))
}

// ServeHTTP serves a request through the whole middleware chain.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.recoverPanics(securityHeaders(s.opts.ClientAddresses.Middleware(s.accessLog(s.root)))).ServeHTTP(w, r)
}

// Management is the handler of the management listener: /healthz, /readyz
// and /metrics on any host, nothing else.
func (s *Server) Management() http.Handler {
	return s.recoverPanics(securityHeaders(s.accessLog(s.management)))
}

// metricsGuard serves /metrics on the main listener only to a caller on the
// same host that no proxy forwarded: the main listener usually faces the
// internet, and metrics tell an attacker about traffic and internals. A
// reverse proxy on the same host connects from loopback too, but marks what
// it forwards with Forwarded or X-Forwarded-For (or X-Real-IP).
func metricsGuard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded := r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("X-Real-IP") != ""
		if !isLoopback(r.RemoteAddr) || forwarded {
			WriteError(w, r, failure.PermissionDenied("metrics are served on this listener only to loopback callers; set server.management_listen to serve them on a management listener"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// isLoopback reports whether remoteAddr (IP:PORT, as in
// http.Request.RemoteAddr) is a loopback address.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Ready(ctx); err != nil {
		s.opts.Logger.Warn("not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) instanceRoot(w http.ResponseWriter, r *http.Request) {
	inst, _ := instance.FromContext(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{
		"instance": map[string]string{"id": inst.ID, "name": inst.Name, "domain": inst.PrimaryDomain},
		"issuer":   inst.Issuer(s.opts.ExternalURL),
	})
}

// Limits bound what one client can hold of a listener (the settings
// server.read_header_timeout, server.read_timeout, server.idle_timeout and
// server.max_header_bytes). A zero field leaves net/http's default: no
// timeout, 1 MB of headers.
type Limits struct {
	// ReadHeaderTimeout bounds the time to read a request's headers, and
	// the TLS handshake: a client that sends them slowly is disconnected.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a whole request, body included
	// (on HTTP/2, per stream).
	ReadTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; larger ones get
	// 431.
	MaxHeaderBytes int
	// MaxConnections caps the connections served at once (connLimit);
	// zero serves any number.
	MaxConnections int
}

// MaxStreams is the most requests one HTTP/2 connection carries at once
// (as nginx's default http2_max_concurrent_streams, 128; net/http's is at
// least 100).
const MaxStreams = 128

// ServeOptions say how Serve serves a listener.
type ServeOptions struct {
	// TLS, when not nil, serves HTTPS (HTTP/2 and HTTP/1.1); without it,
	// HTTP/1.1 and h2c.
	TLS    *tls.Config
	Limits Limits
	// ShutdownTimeout is how long a shutdown waits for requests in flight.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Serve serves h on ln until ctx is cancelled, then stops accepting
// connections and waits up to opts.ShutdownTimeout for in-flight requests.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opts ServeOptions) error {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(opts.TLS == nil)
	srv := &http.Server{
		Handler:           h,
		Protocols:         protocols,
		TLSConfig:         opts.TLS,
		ReadHeaderTimeout: opts.Limits.ReadHeaderTimeout,
		ReadTimeout:       opts.Limits.ReadTimeout,
		IdleTimeout:       opts.Limits.IdleTimeout,
		MaxHeaderBytes:    opts.Limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	// Each HTTP/2 stream is a request served at once on its connection:
	// the connections' cap times this bounds them.
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: MaxStreams}
	if n := opts.Limits.MaxConnections; n > 0 {
		limited := newConnLimit(ln, n)
		ln, srv.ConnState = limited, limited.ConnState
	}
	errc := make(chan error, 1)
	go func() {
		if opts.TLS != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	opts.Logger.Info("shutting down: finishing in-flight requests", "listener", ln.Addr().String(), "timeout", opts.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
}

// RetryAfter is the Retry-After (RFC 9110 section 10.2.3), in seconds, of
// an answer that the database is unavailable: enough for a connection pool
// to reconnect after a restart, short enough to notice recovery at once.
const RetryAfter = "2"

// DatabaseUnavailable returns the error a caller sees when err says that the
// database cannot serve requests right now (database.IsUnavailable) and no
// domain error of another kind was made of it; ok is false otherwise. The
// edge then answers 503 with Retry-After instead of "internal error".
func DatabaseUnavailable(err error) (unavailable *failure.Error, ok bool) {
	if k := failure.KindOf(err); k != failure.KindInternal || !database.IsUnavailable(err) {
		return nil, false
	}
	return failure.Unavailable("the database is unavailable; retry in a few seconds"), true
}

// WriteError renders err as problem+json. Internal errors show a generic
// message to the caller; their detail is for the log only. An unavailable
// database is 503 with Retry-After.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if u, ok := DatabaseUnavailable(err); ok {
		w.Header().Set("Retry-After", RetryAfter)
		err = u
	}
	kind := failure.KindOf(err)
	p := problem{Type: "about:blank", Title: kind.String(), Status: kind.HTTPStatus()}
	var fe *failure.Error
	if kind != failure.KindInternal && errors.As(err, &fe) {
		p.Detail, p.Field = fe.Message, fe.Field
	} else {
		p.Detail = "internal error"
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
