package client

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"
)

// transport sends every request with the Client's host, and turns an answer
// the server gave before any RPC ran — an RFC 9457 problem+json body, which
// no RPC answers with — into a Connect error carrying the server's message,
// instead of the "HTTP status 404" that Connect reports for any response it
// does not understand.
type transport struct {
	next http.RoundTripper
	host string
}

// problem is the server's problem+json body (internal/server).
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// noInstanceDetail starts the detail of the server's answer to a host no
// instance serves (internal/instance.Resolver.ByHost). Both that answer and
// the one for an unknown path are 404 problems; only the detail tells them
// apart.
const noInstanceDetail = "no instance serves"

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.host != "" {
		req = req.Clone(req.Context()) // a RoundTripper must not modify the request
		req.Host = t.host
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode == http.StatusOK {
		return resp, err
	}
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mediaType != "application/problem+json" {
		return resp, nil
	}
	defer resp.Body.Close()
	var p problem
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p); err != nil || p.Detail == "" {
		p.Detail = resp.Status
	}
	if resp.StatusCode == http.StatusNotFound && strings.HasPrefix(p.Detail, noInstanceDetail) {
		host := req.Host
		if host == "" {
			host = req.URL.Host
		}
		return nil, connect.NewError(connect.CodeNotFound, &NoInstanceError{Host: host})
	}
	ce := connect.NewError(codeOfStatus(resp.StatusCode), errors.New(p.Detail))
	if v := resp.Header.Get("Retry-After"); v != "" {
		ce.Meta().Set("Retry-After", v)
	}
	return nil, ce
}

// codeOfStatus maps the HTTP status of a problem to the Connect code of the
// same meaning (the inverse of the server's mapping of error kinds).
func codeOfStatus(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusForbidden:
		return connect.CodePermissionDenied
	case http.StatusNotFound:
		return connect.CodeNotFound
	case http.StatusConflict:
		return connect.CodeAborted
	case http.StatusRequestEntityTooLarge, http.StatusRequestHeaderFieldsTooLarge, http.StatusTooManyRequests:
		return connect.CodeResourceExhausted
	case http.StatusNotImplemented:
		return connect.CodeUnimplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return connect.CodeUnavailable
	case http.StatusInternalServerError:
		return connect.CodeInternal
	default:
		return connect.CodeUnknown
	}
}

// unwrapTransportError returns the Connect error the transport made of an
// answer, which net/http hands on wrapped in a *url.Error ("Post URL: …"),
// as the error of the call; other errors are returned as they are.
func unwrapTransportError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if ce, ok := ue.Err.(*connect.Error); ok {
		return ce
	}
	return err
}
