package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Forwarded client certificate formats: how a reverse proxy that
// terminated TLS and verified the client's certificate passes it on
// (ClientCertificateOptions.Format).
const (
	// CertNginx is nginx's $ssl_client_escaped_cert: the URL-escaped
	// PEM certificate, in a header the proxy configuration names.
	CertNginx = "nginx"
	// CertEnvoy is Envoy's x-forwarded-client-cert: elements separated by
	// commas, each of key=value pairs separated by semicolons, whose Cert
	// (and optional Chain) is the URL-escaped PEM, in double quotes. The
	// last element is the one the nearest proxy added.
	CertEnvoy = "envoy"
	// CertTraefik is Traefik's X-Forwarded-Tls-Client-Cert (passTLSClientCert
	// with pem): base64 DER certificates without PEM armour, URL-escaped,
	// separated by commas, the client's first.
	CertTraefik = "traefik"
	// CertHAProxy is a header set to %[ssl_c_der,base64]: base64 DER.
	CertHAProxy = "haproxy"
	// CertAWSALB is AWS Application Load Balancer's X-Amzn-Mtls-Clientcert:
	// URL-encoded PEM (with +, = and / left as they are).
	CertAWSALB = "aws-alb"
	// CertRFC9440 is the Client-Cert header of RFC 9440: a structured
	// field byte sequence, :base64 DER:, with Client-Cert-Chain beside it.
	CertRFC9440 = "rfc9440"
)

// CertificateFormats are the forwarded certificate formats, with the
// header each reads unless configured otherwise.
var CertificateFormats = map[string]string{
	CertNginx: "X-SSL-Client-Cert", CertEnvoy: "X-Forwarded-Client-Cert", CertTraefik: "X-Forwarded-Tls-Client-Cert",
	CertHAProxy: "X-SSL-Client-Cert", CertAWSALB: "X-Amzn-Mtls-Clientcert", CertRFC9440: "Client-Cert",
}

// Bounds of a forwarded certificate.
const (
	// MaxForwardedCertBytes bounds a header value read for a certificate
	// (a chain of a few certificates, URL-escaped PEM).
	MaxForwardedCertBytes = 32 << 10
	// maxChain bounds the certificates of a chain.
	maxChain = 10
)

// ClientCertificateOptions say where the TLS client certificate of an
// OAuth request comes from: the TLS connection, or — from a trusted
// reverse proxy only — a header.
type ClientCertificateOptions struct {
	// Format is one of the Cert* formats; "" reads no header.
	Format string
	// Header is the header read; "" for the format's own
	// (CertificateFormats).
	Header string
	// TrustedProxies are the peers whose header is believed. A header
	// from any other peer is ignored, logged and counted.
	TrustedProxies []netip.Prefix
}

// certSource captures the client certificate of OAuth requests.
type certSource struct {
	opts   ClientCertificateOptions
	header string
	log    *slog.Logger
	// headers counts forwarded certificate headers by result: accepted,
	// untrusted_peer (ignored) and invalid.
	headers *prometheus.CounterVec

	mu        sync.Mutex
	lastWarn  time.Time
	unwarned  int
	warnEvery time.Duration
}

func newCertSource(opts ClientCertificateOptions, log *slog.Logger, reg *prometheus.Registry) *certSource {
	c := &certSource{opts: opts, log: log, warnEvery: time.Second, headers: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "castellan_client_certificate_headers_total",
		Help: "Forwarded client certificate headers on OAuth requests, by result: accepted, untrusted_peer (ignored: not from a trusted proxy) or invalid.",
	}, []string{"result"})}
	if opts.Format != "" {
		c.header = opts.Header
		if c.header == "" {
			c.header = CertificateFormats[opts.Format]
		}
	}
	if reg != nil {
		reg.MustRegister(c.headers)
	}
	return c
}

type clientChainKey struct{}

// ClientCertificates is the certificate chain the client of an OAuth
// request presented (its own first), from the TLS connection or a trusted
// proxy's header, verified or not (certificate-bound clients decide what
// to trust); nil for none.
func ClientCertificates(ctx context.Context) []*x509.Certificate {
	c, _ := ctx.Value(clientChainKey{}).([]*x509.Certificate)
	return c
}

// ClientCertificate is the certificate the client presented on the TLS
// connection of an OAuth request (or through a trusted proxy), verified
// or not, or nil.
func ClientCertificate(ctx context.Context) *x509.Certificate {
	if c := ClientCertificates(ctx); len(c) > 0 {
		return c[0]
	}
	return nil
}

// capture returns r with its client certificate chain in the context. A
// trusted proxy's header wins over the TLS connection (whose certificate,
// if any, is the proxy's own); the header of any other peer is ignored.
func (c *certSource) capture(r *http.Request) *http.Request {
	var chain []*x509.Certificate
	if c != nil && c.header != "" {
		values := r.Header.Values(c.header)
		if len(values) > 0 || c.opts.Format == CertRFC9440 && r.Header.Get("Client-Cert-Chain") != "" {
			if !c.trusted(r.RemoteAddr) {
				c.headers.WithLabelValues("untrusted_peer").Inc()
				c.warn("a client certificate header from a peer that is not a trusted proxy was ignored", "peer", r.RemoteAddr, "header", c.header)
				return c.tlsChain(r)
			}
			var err error
			if len(values) != 1 {
				err = errors.New("the header is given more than once")
			} else if chain, err = ParseForwardedCertificate(c.opts.Format, values[0]); err == nil && c.opts.Format == CertRFC9440 {
				var more []*x509.Certificate
				if more, err = parseRFC9440Chain(strings.Join(r.Header.Values("Client-Cert-Chain"), ",")); err == nil {
					chain = append(chain, more...)
				}
			}
			if err != nil {
				c.headers.WithLabelValues("invalid").Inc()
				c.warn("a trusted proxy's client certificate header does not parse; the request has no certificate", "peer", r.RemoteAddr, "header", c.header, "err", err)
				return r
			}
			c.headers.WithLabelValues("accepted").Inc()
			return r.WithContext(context.WithValue(r.Context(), clientChainKey{}, chain))
		}
		if c.trusted(r.RemoteAddr) {
			return r // the proxy forwarded no certificate
		}
	}
	return c.tlsChain(r)
}

func (c *certSource) tlsChain(r *http.Request) *http.Request {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.WithContext(context.WithValue(r.Context(), clientChainKey{}, r.TLS.PeerCertificates))
	}
	return r
}

func (c *certSource) trusted(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range c.opts.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// warn logs at most once per warnEvery, counting what it left out.
func (c *certSource) warn(msg string, args ...any) {
	now := time.Now()
	c.mu.Lock()
	if now.Sub(c.lastWarn) < c.warnEvery {
		c.unwarned++
		c.mu.Unlock()
		return
	}
	c.lastWarn, args = now, append(args, "unlogged_before", c.unwarned)
	c.unwarned = 0
	c.mu.Unlock()
	c.log.Warn(msg, args...)
}

// ParseForwardedCertificate parses a forwarded certificate header value
// of a format: the client's certificate first, then the chain the proxy
// passed on, if any. At most MaxForwardedCertBytes and maxChain
// certificates.
func ParseForwardedCertificate(format, value string) ([]*x509.Certificate, error) {
	if len(value) > MaxForwardedCertBytes {
		return nil, errors.New("the header is too long")
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, errors.New("the header is empty")
	}
	switch format {
	case CertNginx, CertAWSALB:
		return parseEscapedPEM(value)
	case CertEnvoy:
		return parseXFCC(value)
	case CertTraefik:
		var out []*x509.Certificate
		for _, part := range strings.Split(value, ",") {
			raw, err := url.PathUnescape(strings.TrimSpace(part))
			if err != nil {
				return nil, errors.New("not URL-escaped")
			}
			c, err := parseBase64DER(raw, base64.StdEncoding)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
			if len(out) > maxChain {
				return nil, errors.New("too many certificates")
			}
		}
		return out, nil
	case CertHAProxy:
		c, err := parseBase64DER(value, base64.StdEncoding)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	case CertRFC9440:
		c, err := parseSFBinary(value)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	return nil, errors.New("unknown format")
}

func parseBase64DER(s string, enc *base64.Encoding) (*x509.Certificate, error) {
	der, err := enc.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("not base64")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errors.New("not an X.509 certificate")
	}
	return c, nil
}

// parsePEMChain reads PEM certificates, nothing else.
func parsePEMChain(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, errors.New("a PEM block is not a CERTIFICATE")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errors.New("not an X.509 certificate")
		}
		if out = append(out, c); len(out) > maxChain {
			return nil, errors.New("too many certificates")
		}
	}
	if len(out) == 0 || len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("not PEM certificates")
	}
	return out, nil
}

// parseXFCC reads the last element of an x-forwarded-client-cert header:
// its Cert, and its Chain when given (which starts with the same
// certificate).
func parseXFCC(value string) ([]*x509.Certificate, error) {
	elements, err := splitQuoted(value, ',')
	if err != nil {
		return nil, err
	}
	pairs, err := splitQuoted(elements[len(elements)-1], ';')
	if err != nil {
		return nil, err
	}
	var cert, chain string
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, errors.New("an XFCC pair has no =")
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "cert":
			cert = v
		case "chain":
			chain = v
		}
	}
	if chain != "" {
		return parseEscapedPEM(chain)
	}
	if cert == "" {
		return nil, errors.New("the XFCC element has no Cert")
	}
	return parseEscapedPEM(cert)
}

// parseEscapedPEM reads URL-escaped PEM: percent-escapes only (nginx,
// Envoy, and AWS ALB, which leaves + = / as they are), or, failing that,
// form escaping, where + is a space.
func parseEscapedPEM(value string) ([]*x509.Certificate, error) {
	pemText, err := url.PathUnescape(value)
	if err != nil {
		return nil, errors.New("not URL-escaped")
	}
	chain, err := parsePEMChain(pemText)
	if err != nil && strings.Contains(value, "+") {
		if pemText, qerr := url.QueryUnescape(value); qerr == nil {
			if c, perr := parsePEMChain(pemText); perr == nil {
				return c, nil
			}
		}
	}
	return chain, err
}

// splitQuoted splits s at sep outside double quotes (a backslash escapes
// the next character inside them).
func splitQuoted(s string, sep byte) ([]string, error) {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && s[i] == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if quoted {
		return nil, errors.New("an unterminated quoted string")
	}
	return append(out, s[start:]), nil
}

// parseSFBinary reads an RFC 8941 byte sequence holding a DER
// certificate (RFC 9440 section 2.2).
func parseSFBinary(s string) (*x509.Certificate, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != ':' || s[len(s)-1] != ':' {
		return nil, errors.New("not a structured field byte sequence")
	}
	return parseBase64DER(s[1:len(s)-1], base64.StdEncoding)
}

// parseRFC9440Chain reads Client-Cert-Chain: a list of byte sequences.
func parseRFC9440Chain(s string) ([]*x509.Certificate, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > MaxForwardedCertBytes {
		return nil, errors.New("Client-Cert-Chain is too long")
	}
	var out []*x509.Certificate
	for _, item := range strings.Split(s, ",") {
		c, err := parseSFBinary(item)
		if err != nil {
			return nil, err
		}
		if out = append(out, c); len(out) > maxChain {
			return nil, errors.New("too many certificates")
		}
	}
	return out, nil
}
