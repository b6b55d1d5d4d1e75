// Package server is Castellan's HTTP endpoint: a listener that speaks
// HTTP/1.1, HTTP/2 over TLS and cleartext HTTP/2 (h2c), and the middleware
// every request passes: panic recovery, security headers, metrics, a
// structured access log and — for everything but the operational endpoints —
// instance resolution from the Host header.
//
// Routes belong to groups (groups.go), decided in one place by path
// (GroupOf), each with middleware of its own: the API group's responses may
// load nothing (CSP default-src 'none'); the pages group (hosted login,
// console) gets a fresh CSP nonce per response (Nonce) and no-store; the
// OAuth group captures the TLS client certificate (ClientCertificates) for
// certificate-bound clients (RFC 8705, mtls.go). Cross-site request forgery protection of pages
// comes with the hosted login, which owns its forms.
//
// Each instance is its own issuer: the instance root reports
// instance.Instance.Issuer, the primary domain with the external URL's
// scheme and port.
//
// Operational endpoints answer on any host: /healthz (the process is alive),
// /readyz (the database answers, accepts writes and every migration is
// applied) and /metrics (Prometheus). Every other route belongs to the
// instance named by the request's host; a host no instance serves gets 404.
//
// Where /metrics is served is a decision about exposure. The main listener
// usually faces the internet, and metrics tell an attacker about traffic,
// error rates and internals, so by default the main listener serves /metrics
// only to a caller on the same host that no proxy forwarded (a loopback peer
// without Forwarded, X-Forwarded-For or X-Real-IP; anyone else gets 403).
// A deployment whose Prometheus scrapes over the network sets
// server.management_listen: Management then serves /healthz, /readyz and
// /metrics on a listener of its own (plain HTTP, for a private network, as
// Keycloak's management port), and the main listener no longer serves
// /metrics at all. /healthz and /readyz stay on the main listener either way,
// for load balancers.
//
// Serve bounds what one client can hold of a listener (Limits): the time to
// send the headers (a slowloris client that trickles them is disconnected),
// the time to send the whole request, how long a keep-alive connection may
// idle, and the size of the headers (431 beyond it). Request bodies are
// bounded by the API (internal/api), which knows its message limit. It
// also caps the connections served at once (connlimit.go; 64 per CPU by
// default), so that a flood of connections, each costing a goroutine and
// its buffers whatever it sends, cannot grow the process without bound:
// beyond the cap, connections wait in the kernel's listen backlog, and
// keep-alive connections idle for a second are closed to make room. The
// management listener has no cap (scrapes and probes answer during a
// flood); an HTTP/2 connection carries at most MaxStreams requests.
//
// Client certificates (mtls.go). The OAuth group takes the chain the
// client presented on the TLS connection — Castellan's own TLS requests,
// never requires, a certificate on the main listener (tls.RequestClientCert:
// no browser is asked to pick one, and which CA to trust is a per-instance,
// per-client decision the provider makes, which a listener-wide ClientCAs
// could not express) — or, behind a reverse proxy, the header the proxy
// sets in one of six formats (nginx, Envoy XFCC, Traefik, HAProxy, AWS ALB,
// RFC 9440; ParseForwardedCertificate, each bounded to
// MaxForwardedCertBytes and 10 certificates). The header is believed only
// from ClientCertificateOptions.TrustedProxies; from any other peer it is
// ignored, logged (at most once a second, with a count of what was left
// out) and counted in castellan_client_certificate_headers_total{result=
// "untrusted_peer"}; a trusted proxy's header that does not parse is
// "invalid" and the request has no certificate. A trusted proxy's header
// wins over the TLS connection, whose certificate is then the proxy's own.
//
// The access log records method, path, status, duration and instance — never
// query strings or headers, which can carry codes and tokens. Errors are
// rendered once, here, as RFC 9457 problem+json from their failure.Kind; an
// error that says the database cannot serve right now
// (database.IsUnavailable) is 503 with Retry-After, logged once with its
// cause, rather than an internal error.
package server
