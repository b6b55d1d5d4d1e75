// Package server is Castellan's one HTTP endpoint: a single listener that
// speaks HTTP/1.1, HTTP/2 over TLS and cleartext HTTP/2 (h2c), and the
// middleware every request passes: panic recovery, security headers,
// metrics, a structured access log and — for everything but the operational
// endpoints — instance resolution from the Host header.
//
// Operational endpoints answer on any host: /healthz (the process is alive),
// /readyz (the database answers and every migration is applied) and
// /metrics (Prometheus). Every other route belongs to the instance named by
// the request's host; a host no instance serves gets 404.
//
// The access log records method, path, status, duration and instance — never
// query strings or headers, which can carry codes and tokens. Errors are
// rendered once, here, as RFC 9457 problem+json from their failure.Kind.
package server
