// Package clientaddr carries the address of the client a request came
// from through the request's context, so that what a request changes is
// recorded with it (the events' editor address) and what it costs is
// counted against it (rate limits).
//
// The address is the TCP peer's, unless the peer is a configured trusted
// proxy: then it is the nearest address in X-Forwarded-For (or the
// Forwarded header's for=) that is not itself a trusted proxy, read from
// the right, because only the entries the trusted proxies appended can be
// believed — a client may send any X-Forwarded-For it likes. Without
// trusted proxies the headers are never read.
package clientaddr

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type key struct{}

// With returns ctx carrying addr as the client's address.
func With(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, key{}, addr)
}

// From returns the client address ctx carries (the zero Addr if none).
func From(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(key{}).(netip.Addr)
	return a
}

// Of returns the client address of r: the one its context carries (set
// by Resolver.Middleware), or else its TCP peer's.
func Of(r *http.Request) netip.Addr {
	if a := From(r.Context()); a.IsValid() {
		return a
	}
	return peer(r.RemoteAddr)
}

// peer parses http.Request.RemoteAddr (IP:PORT); IPv4-mapped IPv6
// addresses are unmapped so one client has one spelling.
func peer(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Resolver finds a request's client address.
type Resolver struct {
	// TrustedProxies are the networks whose forwarding headers are read.
	TrustedProxies []netip.Prefix
}

// maxHops bounds the forwarding entries read from one request, however
// long its headers are.
const maxHops = 32

func (v Resolver) trusted(a netip.Addr) bool {
	for _, p := range v.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Resolve returns r's client address.
func (v Resolver) Resolve(r *http.Request) netip.Addr {
	addr := peer(r.RemoteAddr)
	if !addr.IsValid() || !v.trusted(addr) {
		return addr
	}
	hops := forwarded(r.Header)
	for i := len(hops) - 1; i >= 0 && len(hops)-i <= maxHops; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// An entry that does not parse ends what can be believed: the
			// last address known stands.
			return addr
		}
		addr = a
		if !v.trusted(a) {
			return a
		}
	}
	return addr
}

// Middleware stores each request's client address in its context.
func (v Resolver) Middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := v.Resolve(r); a.IsValid() {
			r = r.WithContext(With(r.Context(), a))
		}
		h.ServeHTTP(w, r)
	})
}

// forwarded returns the forwarding chain of h, oldest first: the
// Forwarded header's for= values (RFC 7239) when it is present, else
// X-Forwarded-For's entries. At most maxHops entries from the end are
// kept.
func forwarded(h http.Header) []string {
	var hops []string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for _, elem := range strings.Split(line, ",") {
				hop := ""
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						hop = v
					}
				}
				hops = append(hops, hop)
			}
		}
	} else {
		for _, line := range h.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(line, ",")...)
		}
	}
	if len(hops) > maxHops {
		hops = hops[len(hops)-maxHops:]
	}
	return hops
}

// parseHop reads one forwarding entry: an address, optionally quoted,
// bracketed (IPv6) or with a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	s = strings.Trim(s, `"`)
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}
