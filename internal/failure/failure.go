package failure

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error for mapping to protocol status codes.
type Kind int

// The error kinds. Their order carries no meaning.
const (
	KindInternal Kind = iota
	KindNotFound
	KindAlreadyExists
	KindInvalidArgument
	KindFailedPrecondition
	KindConflict
	KindPermissionDenied
	KindUnauthenticated
	KindUnavailable
	KindResourceExhausted
)

var kindNames = map[Kind]string{
	KindInternal:           "internal",
	KindNotFound:           "not_found",
	KindAlreadyExists:      "already_exists",
	KindInvalidArgument:    "invalid_argument",
	KindFailedPrecondition: "failed_precondition",
	KindConflict:           "conflict",
	KindPermissionDenied:   "permission_denied",
	KindUnauthenticated:    "unauthenticated",
	KindUnavailable:        "unavailable",
	KindResourceExhausted:  "resource_exhausted",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// HTTPStatus is the status a plain HTTP response carries for the kind.
func (k Kind) HTTPStatus() int {
	switch k {
	case KindNotFound:
		return http.StatusNotFound
	case KindAlreadyExists, KindConflict:
		return http.StatusConflict
	case KindInvalidArgument:
		return http.StatusBadRequest
	case KindFailedPrecondition:
		return http.StatusPreconditionFailed
	case KindPermissionDenied:
		return http.StatusForbidden
	case KindUnauthenticated:
		return http.StatusUnauthorized
	case KindUnavailable:
		return http.StatusServiceUnavailable
	case KindResourceExhausted:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// Error is a classified error. Message is written for the caller; Field, when
// set, names the offending input (a JSON pointer, a config key, a constraint).
type Error struct {
	Kind    Kind
	Field   string
	Message string
	Cause   error
	// Violations lists every offending field when there are several (an
	// invalid document); Field is then the first of them.
	Violations []Violation
}

// Violation is one offending field of a request.
type Violation struct {
	Field   string
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Cause != nil {
		return msg + ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, failure.NotFound("")) style comparisons match on kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Message == "" && t.Field == ""
}

// KindOf returns the kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Is reports whether err's chain holds an *Error of kind k.
func Is(err error, k Kind) bool {
	if err == nil {
		return false // and no allocation for errors.As's target
	}
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

func newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing object.
func NotFound(format string, args ...any) *Error { return newf(KindNotFound, format, args...) }

// AlreadyExists reports a clash with an existing object or unique value.
func AlreadyExists(format string, args ...any) *Error {
	return newf(KindAlreadyExists, format, args...)
}

// InvalidArgument reports bad input; Field names it.
func InvalidArgument(field, format string, args ...any) *Error {
	e := newf(KindInvalidArgument, format, args...)
	e.Field = field
	return e
}

// FailedPrecondition reports a request that is valid but not allowed in the
// object's current state.
func FailedPrecondition(format string, args ...any) *Error {
	return newf(KindFailedPrecondition, format, args...)
}

// Conflict reports a concurrent modification; the caller may retry.
func Conflict(format string, args ...any) *Error { return newf(KindConflict, format, args...) }

// PermissionDenied reports an authenticated caller lacking a permission.
func PermissionDenied(format string, args ...any) *Error {
	return newf(KindPermissionDenied, format, args...)
}

// Unauthenticated reports a caller that could not be authenticated.
func Unauthenticated(format string, args ...any) *Error {
	return newf(KindUnauthenticated, format, args...)
}

// Unavailable reports a dependency that cannot be reached right now.
func Unavailable(format string, args ...any) *Error {
	return newf(KindUnavailable, format, args...)
}

// ResourceExhausted reports a caller over a rate limit or quota; it may
// try again later.
func ResourceExhausted(format string, args ...any) *Error {
	return newf(KindResourceExhausted, format, args...)
}

// Internal wraps an unexpected error; the caller sees only a generic message.
func Internal(cause error, format string, args ...any) *Error {
	e := newf(KindInternal, format, args...)
	e.Cause = cause
	return e
}
