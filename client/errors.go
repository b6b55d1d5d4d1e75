package client

import (
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// Error is an error of an API call as a caller handles it: its code, its
// message and, for a request the server refused as invalid, the fields at
// fault.
type Error struct {
	// Code is the Connect (and gRPC) code, such as connect.CodeNotFound or
	// connect.CodeInvalidArgument.
	Code connect.Code
	// Message is the server's message without the code. A message about
	// one field starts with the field's name ("loginName: already taken").
	Message string
	// FieldViolations are the fields of the request the server refused and
	// why (the google.rpc.BadRequest detail); none for other errors.
	FieldViolations []FieldViolation

	err *connect.Error
}

// FieldViolation names a field of a request and what is wrong with it.
type FieldViolation struct {
	// Field is the field's JSON name ("loginName"), or a JSON Pointer into
	// the traits for a violation of the user type's schema.
	Field       string
	Description string
}

// Error returns the code and the message, as *connect.Error does.
func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

// Unwrap returns the *connect.Error e was made from, so that errors.As and
// connect.CodeOf see through e.
func (e *Error) Unwrap() error { return e.err }

// AsError returns the API error in err's chain as an *Error, or false when
// err is nil or holds no *connect.Error (the errors of this package's
// clients always do, also for a canceled context or an unreachable server).
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce == nil {
		return nil, false
	}
	e = &Error{Code: ce.Code(), Message: ce.Message(), err: ce}
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue // a detail of a type this binary does not know
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				e.FieldViolations = append(e.FieldViolations, FieldViolation{Field: fv.GetField(), Description: fv.GetDescription()})
			}
		}
	}
	return e, true
}

// NoInstanceError is the cause of an error (code not_found) the server
// answered before any RPC ran because no instance serves the host the
// request named. Find it with errors.As; point the client at the
// instance's domain with [WithHost], or use the instance's URL.
type NoInstanceError struct {
	// Host is the host the request named.
	Host string
}

func (e *NoInstanceError) Error() string { return "no instance serves " + e.Host }
