package api

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/server"
)

// codes maps each failure.Kind to its Connect code. Connect renders the code
// as a gRPC status, or as an HTTP status for Connect and REST callers
// (https://connectrpc.com/docs/protocol#error-codes).
var codes = map[failure.Kind]connect.Code{
	failure.KindInternal:           connect.CodeInternal,
	failure.KindNotFound:           connect.CodeNotFound,
	failure.KindAlreadyExists:      connect.CodeAlreadyExists,
	failure.KindInvalidArgument:    connect.CodeInvalidArgument,
	failure.KindFailedPrecondition: connect.CodeFailedPrecondition,
	// A concurrent modification: the caller may retry the whole operation,
	// which is what Aborted means.
	failure.KindConflict:         connect.CodeAborted,
	failure.KindPermissionDenied: connect.CodePermissionDenied,
	failure.KindUnauthenticated:  connect.CodeUnauthenticated,
	failure.KindUnavailable:      connect.CodeUnavailable,
	// Rate limits; Connect answers REST and Connect callers 429.
	failure.KindResourceExhausted: connect.CodeResourceExhausted,
}

// connectError maps an error returned by a service to the error its caller
// sees. This is the one place where domain errors become protocol errors.
//
//   - A *connect.Error passes unchanged: the service chose it deliberately.
//   - A *failure.Error gets the Connect code of its Kind and its Message. When
//     it names a Field, the message starts with the field and a
//     google.rpc.BadRequest detail holds a FieldViolation for it — one for
//     each of its Violations when there are several — so clients can point
//     at every offending input.
//   - Cancellation and deadlines keep their own codes.
//   - An error that says the database cannot serve right now (a refused or
//     broken connection, a restart, a full disk: database.IsUnavailable)
//     becomes CodeUnavailable (HTTP 503) with a Retry-After header: the same
//     request may succeed in a moment. A password check refused because
//     too many run and wait (password.ErrBusy) closes the connection too.
//   - Anything else, and every internal failure, becomes CodeInternal with the
//     message "internal error": the detail is for the log, not the caller.
func connectError(err error) *connect.Error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce
	}
	var fe *failure.Error
	switch {
	case errors.As(err, &fe) && fe.Kind != failure.KindInternal:
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
	default:
		u, ok := server.DatabaseUnavailable(err)
		if !ok {
			return connect.NewError(connect.CodeInternal, errors.New("internal error"))
		}
		ce = connect.NewError(connect.CodeUnavailable, errors.New(u.Message))
		ce.Meta().Set("Retry-After", server.RetryAfter)
		return ce
	}
	code, ok := codes[fe.Kind]
	if !ok {
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	msg := fe.Message
	if fe.Field != "" {
		msg = fe.Field + ": " + msg
	}
	ce = connect.NewError(code, errors.New(msg))
	if fe.Kind == failure.KindUnavailable { // e.g. a password hasher at its limit: retry shortly
		ce.Meta().Set("Retry-After", server.RetryAfter)
	}
	if errors.Is(err, password.ErrBusy) {
		// A storm of sign-ins: the refused client's connection is closed
		// after the answer (HTTP/2: GOAWAY), so that it does not hold the
		// server's memory (a goroutine and buffers per connection) until
		// server.idle_timeout while it waits to retry.
		ce.Meta().Set("Connection", "close")
	}
	violations := []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Message}}
	if len(fe.Violations) > 0 {
		violations = violations[:0]
		for _, v := range fe.Violations {
			violations = append(violations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Message})
		}
	}
	if fe.Field != "" || len(fe.Violations) > 0 {
		detail, derr := connect.NewErrorDetail(&errdetails.BadRequest{FieldViolations: violations})
		if derr == nil {
			ce.AddDetail(detail)
		}
	}
	return ce
}

// errorInterceptor applies connectError to every error a service returns and
// logs the ones the caller sees only as "internal error".
type errorInterceptor struct {
	log *slog.Logger
}

func (i errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		resp, err := next(ctx, req)
		if err != nil {
			return nil, i.mapError(ctx, req.Spec().Procedure, err)
		}
		return resp, nil
	}
}

func (errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := next(ctx, conn); err != nil {
			return i.mapError(ctx, conn.Spec().Procedure, err)
		}
		return nil
	}
}

func (i errorInterceptor) mapError(ctx context.Context, procedure string, err error) error {
	ce := connectError(err)
	if ce.Code() == connect.CodeInternal {
		i.log.ErrorContext(ctx, "rpc failed", "procedure", procedure, "err", err)
	} else if _, unavailable := server.DatabaseUnavailable(err); unavailable {
		i.log.WarnContext(ctx, "database unavailable", "procedure", procedure, "err", err)
	}
	return ce
}
