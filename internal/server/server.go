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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	// ExternalURL is the public base URL, reported on the instance root.
	ExternalURL string
}

// Server routes requests. Register instance routes with Handle before
// serving.
type Server struct {
	opts     Options
	root     *http.ServeMux
	tenant   *http.ServeMux
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
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
	s.root.Handle("GET /healthz", s.instrument("/healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})))
	s.root.Handle("GET /readyz", s.instrument("/readyz", http.HandlerFunc(s.readyz)))
	s.root.Handle("GET /metrics", s.instrument("/metrics", promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{})))
	s.root.Handle("/", s.resolveInstance(s.tenant))
	s.Handle("GET /{$}", http.HandlerFunc(s.instanceRoot))
	s.tenant.Handle("/", s.instrument("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, failure.NotFound("no route for %s %s", r.Method, r.URL.Path))
	})))
	return s
}

// Handle registers an instance route; its pattern is also its metrics label.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.tenant.Handle(pattern, s.instrument(pattern, h))
}

// ServeHTTP serves a request through the whole middleware chain.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.recoverPanics(securityHeaders(s.accessLog(s.root))).ServeHTTP(w, r)
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
		"issuer":   s.opts.ExternalURL,
	})
}

// Serve serves on ln until ctx is cancelled, then stops accepting
// connections and waits up to shutdownTimeout for in-flight requests.
// With a non-nil tlsConfig it serves HTTPS (HTTP/2 and HTTP/1.1); without, it
// serves HTTP/1.1 and h2c.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tlsConfig *tls.Config, shutdownTimeout time.Duration, log *slog.Logger) error {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(tlsConfig == nil)
	srv := &http.Server{
		Handler:           h,
		Protocols:         protocols,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
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
	log.Info("shutting down: finishing in-flight requests", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
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

// WriteError renders err as problem+json. Internal errors show a generic
// message to the caller; their detail is for the log only.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
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
