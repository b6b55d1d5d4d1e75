package org

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Domain verification methods.
const (
	MethodDNS  = "dns"
	MethodHTTP = "http"
)

// Bounds of one HTTP verification: the whole fetch, redirects included,
// and the challenge file, which holds a token of 32 characters.
const (
	fetchTimeout  = 10 * time.Second
	dialTimeout   = 5 * time.Second
	maxRedirects  = 5
	maxHeaderSize = 16 << 10
	maxBodySize   = 1 << 10
)

// Verifier checks domain ownership challenges.
//
// An HTTP challenge is fetched from the domain the organization claims, a
// name anyone may point anywhere; so the fetch must not become a way to
// reach the network Castellan runs in. The client of NewVerifier connects
// only to public addresses: every address it dials — after resolution, of
// the first request and of each redirect — is checked at connect time
// (net.Dialer.Control), so a name that resolves to a public address first
// and to an internal one at the connect (DNS rebinding) is refused too. It
// uses no proxy, fetches no IP literals, and reads at most a small answer
// within a short time. Whatever goes wrong, the caller learns only that the
// file was not found at the URL — not whether the host was refused,
// unreachable, slow or answered something else — so that verification
// cannot probe which internal hosts exist; the reason goes to Log.
type Verifier struct {
	// LookupTXT resolves TXT records; net.DefaultResolver.LookupTXT in production.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// HTTPClient fetches the challenge file. NewVerifier's client connects
	// only to public addresses and the allowed networks, and follows at most
	// five redirects to http or https URLs of a domain name. A replacement
	// must keep those rules.
	HTTPClient *http.Client
	// Log receives why an HTTP verification failed; slog.Default() when nil.
	Log *slog.Logger
}

// NewVerifier returns a Verifier using the system resolver and a client
// that fetches only from public addresses — and from the allowed networks,
// which the operator may open for tests or closed networks
// (domains.verification_allowed_networks).
func NewVerifier(allowed ...netip.Prefix) *Verifier {
	allowed = append([]netip.Prefix(nil), allowed...)
	dialer := newDialer(allowed)
	return &Verifier{
		LookupTXT: net.DefaultResolver.LookupTXT,
		HTTPClient: &http.Client{
			Timeout: fetchTimeout,
			Transport: &http.Transport{
				Proxy:                  nil,
				DialContext:            dialer.DialContext,
				TLSHandshakeTimeout:    dialTimeout,
				ResponseHeaderTimeout:  dialTimeout,
				MaxResponseHeaderBytes: maxHeaderSize,
				DisableKeepAlives:      true,
				DisableCompression:     true,
			},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > maxRedirects {
					return fmt.Errorf("more than %d redirects", maxRedirects)
				}
				return checkURL(req)
			},
		},
	}
}

// newDialer returns a dialer that refuses to connect to addresses that are
// not public, unless allowed.
func newDialer(allowed []netip.Prefix) *net.Dialer {
	return &net.Dialer{
		Timeout: dialTimeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q is not an IP address and port", errBlockedAddress, address)
			}
			if !fetchable(ap.Addr(), allowed) {
				return fmt.Errorf("%w: %s", errBlockedAddress, ap.Addr())
			}
			return nil
		},
	}
}

var errBlockedAddress = errors.New("not a public address")

// nonPublic lists the special-purpose ranges of the IANA IPv4 and IPv6
// registries that are not globally reachable, or that embed an IPv4
// address (NAT64, 6to4, Teredo) and could reach a private one through a
// translator. Loopback, private, unique-local, link-local, multicast and
// unspecified addresses are checked by netip's predicates as well.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // shared address space (carrier-grade NAT)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata services
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/96",           // unspecified, loopback, IPv4-compatible
		"::ffff:0:0/96",   // IPv4-mapped (checked unmapped as well)
		"64:ff9b::/96",    // NAT64
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001::/23",       // IETF protocol assignments, Teredo
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4
		"3fff::/20",       // documentation
		"5f00::/16",       // segment routing
		"fc00::/7",        // unique-local
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// fetchable reports whether HTTP verification may connect to addr: a public
// address, or one within an allowed network.
func fetchable(addr netip.Addr, allowed []netip.Prefix) bool {
	addr = addr.WithZone("")
	for _, a := range []netip.Addr{addr, addr.Unmap()} {
		for _, p := range allowed {
			if p.Contains(a) {
				return true
			}
		}
	}
	addr = addr.Unmap()
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// checkURL admits a URL to fetch: http or https, on a host name. A domain
// is proven by its name; an IP literal proves nothing and is refused, in
// the domain and in redirects alike — also in the forms URL parsers and
// resolvers read as IPv4 (a last label that is a number in any notation,
// as in 127.1 or 0x7f.1).
func checkURL(req *http.Request) error {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("scheme %q is neither http nor https", req.URL.Scheme)
	}
	host := req.URL.Hostname()
	if _, err := netip.ParseAddr(host); err == nil || strings.ContainsAny(host, ":%") {
		return fmt.Errorf("%w: the URL names the IP address %s", errBlockedAddress, host)
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(host) > 254 || !hostName(labels) {
		return errors.New("the URL names no host name")
	}
	if _, err := strconv.ParseUint(labels[len(labels)-1], 0, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%w: the URL names the IP address %s", errBlockedAddress, host)
	}
	return nil
}

// hostName reports whether labels are those of a host name: letters,
// digits and inner hyphens, 1 to 63 of them each.
func hostName(labels []string) bool {
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func tokensEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// challengeURL is where the HTTP challenge for token is published.
func challengeURL(domain, token string) string {
	return "http://" + domain + "/.well-known/castellan-challenge/" + token
}

// Verify checks that the challenge token is published for domain. A missing
// or wrong challenge is failure.FailedPrecondition; the caller may retry
// after publishing it.
func (v *Verifier) Verify(ctx context.Context, domain, method, token string) error {
	switch method {
	case MethodDNS:
		name := "_castellan-challenge." + domain
		records, err := v.LookupTXT(ctx, name)
		if err != nil {
			return failure.FailedPrecondition("no TXT record found at %s", name)
		}
		for _, r := range records {
			if tokensEqual(strings.TrimSpace(r), token) {
				return nil
			}
		}
		return failure.FailedPrecondition("the TXT records at %s do not hold the verification token", name)
	case MethodHTTP:
		url := challengeURL(domain, token)
		if err := v.fetch(ctx, url, token); err != nil {
			log := v.Log
			if log == nil {
				log = slog.Default()
			}
			log.InfoContext(ctx, "domain verification over HTTP failed", "domain", domain, "url", url, "err", err)
			return failure.FailedPrecondition("the verification file was not found at %s: publish the token there as the whole body of a 200 response, then verify again", url)
		}
		return nil
	}
	return failure.InvalidArgument("method", "unknown verification method %q", method)
}

// fetch gets url and checks that it answers 200 with the token; the error
// says why not, for the log only.
func (v *Verifier) fetch(ctx context.Context, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if err := checkURL(req); err != nil {
		return err
	}
	resp, err := v.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize+1))
	if err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	if len(body) > maxBodySize {
		return fmt.Errorf("the body is longer than %d bytes", maxBodySize)
	}
	if !tokensEqual(strings.TrimSpace(string(body)), token) {
		return errors.New("the body is not the token")
	}
	return nil
}
