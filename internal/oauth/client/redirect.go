package client

import (
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Limits of the redirect URIs an application registers.
const (
	maxRedirectURIs   = 20
	maxRedirectURILen = 2000
)

// checkRedirectURIs validates the redirect URIs (field names the list)
// of an application, returned sorted without duplicates. A redirect URI
// is absolute, has no fragment (RFC 6749 section 3.1.2) and no user
// information, and is one of:
//   - https;
//   - http on a loopback address (RFC 8252 section 7.3: a native app
//     listening on 127.0.0.1, [::1] or localhost), and any other http
//     only in development mode;
//   - a private-use scheme of a public client, a reversed domain name
//     with a dot (RFC 8252 section 7.1: com.example.app:/callback).
func checkRedirectURIs(field string, uris []string, public, devMode bool) ([]string, error) {
	if len(uris) > maxRedirectURIs {
		return nil, failure.InvalidArgument(field, "at most %d", maxRedirectURIs)
	}
	for _, raw := range uris {
		if err := checkRedirectURI(raw, public, devMode); err != nil {
			return nil, failure.InvalidArgument(field, "%.200q %v", raw, err)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(uris))), nil
}

type uriError string

func (e uriError) Error() string { return string(e) }

func checkRedirectURI(raw string, public, devMode bool) error {
	if len(raw) > maxRedirectURILen {
		return uriError("is longer than 2000 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return uriError("is not an absolute URI")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return uriError("has a fragment (RFC 6749 section 3.1.2)")
	}
	if u.User != nil {
		return uriError("has user information")
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return uriError("has no host")
		}
	case "http":
		if u.Host == "" {
			return uriError("has no host")
		}
		if !Loopback(u) && !devMode {
			return uriError("uses http on a host that is not loopback; use https, or development mode")
		}
	default:
		if !public || !strings.Contains(u.Scheme, ".") {
			return uriError("must be https, http on loopback, or for a public (native) client a private-use scheme like com.example.app")
		}
	}
	return nil
}

// Loopback reports whether u names a loopback host: localhost, or a
// loopback IP address.
func Loopback(u *url.URL) bool {
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MatchRedirectURI reports whether uri, as a client sent it, is one the
// application registered: compared as strings, exactly (RFC 9700 section
// 4.1.3), except that a loopback http URI matches with any port (RFC 8252
// section 7.3) — for any client in development mode, and for public
// (native) clients always.
func (a Application) MatchRedirectURI(uri string) bool {
	return matchURI(a.RedirectURIs, uri, a.Public || a.DevMode)
}

// MatchPostLogoutRedirectURI is MatchRedirectURI for the URIs a logout
// may return to.
func (a Application) MatchPostLogoutRedirectURI(uri string) bool {
	return matchURI(a.PostLogoutRedirectURIs, uri, a.Public || a.DevMode)
}

func matchURI(registered []string, uri string, anyLoopbackPort bool) bool {
	if slices.Contains(registered, uri) {
		return true
	}
	if !anyLoopbackPort || len(uri) > maxRedirectURILen {
		return false
	}
	got, err := url.Parse(uri)
	if err != nil || got.Scheme != "http" || !Loopback(got) {
		return false
	}
	for _, r := range registered {
		want, err := url.Parse(r)
		if err != nil || want.Scheme != "http" || !Loopback(want) {
			continue
		}
		if strings.EqualFold(want.Hostname(), got.Hostname()) && want.Path == got.Path && want.RawQuery == got.RawQuery && got.Fragment == "" && got.User == nil {
			return true
		}
	}
	return false
}
