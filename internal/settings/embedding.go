package settings

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Embedding says which other sites may show the hosted login in a frame:
// the origins of FrameAncestors replace the CSP's frame-ancestors 'none'
// of the login's pages (and X-Frame-Options DENY is then dropped, since it
// cannot name an origin). It is an instance's setting only: the page
// decides before it knows an organization.
//
// An origin is scheme, host and port only ("https://app.example.com",
// "https://app.example.com:8443"): https, or http on a loopback host; no
// path, query, user or fragment; no wildcard. A wildcard host
// ("https://*.example.com") is refused: a login framed by any subdomain
// trusts every one of them against clickjacking, which few operators
// mean.
type Embedding struct {
	FrameAncestors []string `json:"frameAncestors,omitempty"`
}

// MaxFrameAncestors bounds the origins of Embedding.
const MaxFrameAncestors = 20

// Group is the group of embedding.
func (Embedding) Group() Group { return GroupEmbedding }

// Validate checks the origins and stores them in canonical form (lower
// case, no default port).
func (e Embedding) Validate() (Value, error) {
	if len(e.FrameAncestors) > MaxFrameAncestors {
		return nil, failure.InvalidArgument("embedding.frameAncestors", "at most %d origins", MaxFrameAncestors)
	}
	out := Embedding{}
	for i, o := range e.FrameAncestors {
		field := fmt.Sprintf("embedding.frameAncestors[%d]", i)
		c, err := canonicalOrigin(o)
		if err != nil {
			return nil, failure.InvalidArgument(field, "%s", err.Error())
		}
		for _, prev := range out.FrameAncestors {
			if prev == c {
				return nil, failure.InvalidArgument(field, "%q is listed twice", c)
			}
		}
		out.FrameAncestors = append(out.FrameAncestors, c)
	}
	return out, nil
}

func canonicalOrigin(o string) (string, error) {
	if len(o) > 300 {
		return "", fmt.Errorf("an origin has at most 300 bytes")
	}
	if strings.ContainsAny(o, "*'; \t\r\n,") {
		return "", fmt.Errorf("%q is not an origin: no wildcards, quotes, separators or spaces", o)
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin such as https://app.example.com", o)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(o, "#") {
		return "", fmt.Errorf("%q is not an origin: scheme, host and port only", o)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	switch scheme {
	case "https":
	case "http":
		if !loopbackHost(host) {
			return "", fmt.Errorf("%q: http only for a loopback host; use https", o)
		}
	default:
		return "", fmt.Errorf("%q: the scheme must be https (or http on loopback)", o)
	}
	if port == "443" && scheme == "https" || port == "80" && scheme == "http" {
		port = ""
	}
	if !hostName.MatchString(host) && net.ParseIP(host) == nil {
		return "", fmt.Errorf("%q has no valid host: a DNS name or an IP address", o)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", fmt.Errorf("%q has no valid port", o)
		}
	}
	h := host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if port != "" {
		h += ":" + port
	}
	return scheme + "://" + h, nil
}

// hostName is a DNS name in lower case: labels of letters, digits and
// inner hyphens.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// EmbeddingSet sets the embedding of the instance.
type EmbeddingSet struct{ Embedding }

// EmbeddingReset falls back to the built-in embedding: none.
type EmbeddingReset struct{}

func (EmbeddingSet) EventType() string   { return "settings.embedding.set" }
func (EmbeddingReset) EventType() string { return "settings.embedding.reset" }
func (e *EmbeddingSet) value() Value     { return e.Embedding }
func (*EmbeddingReset) group() Group     { return GroupEmbedding }
