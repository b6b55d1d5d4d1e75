package oauth

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes of RFC 6749 section 5.2, RFC 7009 section 2.2.1 and RFC 6750
// section 3.1.
const (
	InvalidRequest       = "invalid_request"
	InvalidClient        = "invalid_client"
	InvalidGrant         = "invalid_grant"
	UnauthorizedClient   = "unauthorized_client"
	UnsupportedGrantType = "unsupported_grant_type"
	InvalidScope         = "invalid_scope"
	UnsupportedTokenType = "unsupported_token_type"
	ServerError          = "server_error"
	// Authorization endpoint (RFC 6749 section 4.1.2.1, OIDC Core
	// section 3.1.2.6).
	UnsupportedResponseType = "unsupported_response_type"
	AccessDenied            = "access_denied"
	LoginRequired           = "login_required"
	RequestNotSupported     = "request_not_supported"
	RequestURINotSupported  = "request_uri_not_supported"
	// Protected resources (RFC 6750 section 3.1).
	InvalidToken       = "invalid_token"
	TemporarilyUnavail = "temporarily_unavailable"
	// InvalidTarget: a resource (RFC 8707 section 2) or audience (RFC
	// 8693 section 2.2.2) the server will not issue a token for.
	InvalidTarget = "invalid_target"
)

// Error is an OAuth error response: Code and Description go to the client
// (RFC 6749 section 5.2), Cause only to the log.
type Error struct {
	Code        string
	Description string
	// Status is the HTTP status; 0 means the default of Code (StatusOf).
	Status int
	Cause  error
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// HTTPStatus is the status the error is answered with: 401 for
// invalid_client (RFC 6749 section 5.2, with a WWW-Authenticate challenge),
// 500 for server_error, 503 for temporarily_unavailable, 400 otherwise.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case InvalidClient:
		return http.StatusUnauthorized
	case ServerError:
		return http.StatusInternalServerError
	case TemporarilyUnavail:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// Errorf returns an Error with code and a description for the client.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, or nil when err holds none.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
