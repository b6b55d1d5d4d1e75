package org

import (
	"context"
	"crypto/subtle"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Domain verification methods.
const (
	MethodDNS  = "dns"
	MethodHTTP = "http"
)

// Verifier checks domain ownership challenges.
type Verifier struct {
	// LookupTXT resolves TXT records; net.DefaultResolver.LookupTXT in production.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	// HTTPClient fetches the challenge file. It must not follow redirects
	// to other hosts; NewVerifier's client follows none.
	HTTPClient *http.Client
}

// NewVerifier returns a Verifier using the system resolver and a client
// with a short timeout that follows no redirects.
func NewVerifier() *Verifier {
	return &Verifier{
		LookupTXT: net.DefaultResolver.LookupTXT,
		HTTPClient: &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func tokensEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

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
		url := "http://" + domain + "/.well-known/castellan-challenge/" + token
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return failure.InvalidArgument("domain", "cannot build the challenge URL")
		}
		resp, err := v.HTTPClient.Do(req)
		if err != nil {
			return failure.FailedPrecondition("could not fetch %s", url)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if resp.StatusCode != http.StatusOK || !tokensEqual(strings.TrimSpace(string(body)), token) {
			return failure.FailedPrecondition("%s did not answer 200 with the verification token", url)
		}
		return nil
	}
	return failure.InvalidArgument("method", "unknown verification method %q", method)
}
