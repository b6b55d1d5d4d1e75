package api

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/password"
)

func TestConnectError(t *testing.T) {
	deliberate := connect.NewError(connect.CodeResourceExhausted, errors.New("slow down"))
	for _, tc := range []struct {
		name  string
		err   error
		code  connect.Code
		msg   string
		field string // the FieldViolation expected, "" for no details
	}{
		{"ok/not found", failure.NotFound("no user %q", "u1"), connect.CodeNotFound, `no user "u1"`, ""},
		{"ok/invalid argument names its field", failure.InvalidArgument("email", "not an email address"),
			connect.CodeInvalidArgument, "email: not an email address", "email"},
		{"ok/already exists names the unique field", &failure.Error{Kind: failure.KindAlreadyExists, Field: "loginName", Message: "taken"},
			connect.CodeAlreadyExists, "loginName: taken", "loginName"},
		{"ok/failed precondition", failure.FailedPrecondition("the user is locked"), connect.CodeFailedPrecondition, "the user is locked", ""},
		{"ok/conflict may be retried", failure.Conflict("changed concurrently"), connect.CodeAborted, "changed concurrently", ""},
		{"ok/permission denied", failure.PermissionDenied("missing user.write"), connect.CodePermissionDenied, "missing user.write", ""},
		{"ok/unauthenticated", failure.Unauthenticated("token expired"), connect.CodeUnauthenticated, "token expired", ""},
		{"ok/unavailable may be retried", failure.Unavailable("too many password checks at once"), connect.CodeUnavailable, "too many password checks at once", ""},
		{"ok/wrapped failure keeps its kind", fmt.Errorf("org: rename: %w", failure.NotFound("no org")), connect.CodeNotFound, "no org", ""},
		{"ok/connect error passes unchanged", fmt.Errorf("wrapped: %w", deliberate), connect.CodeResourceExhausted, "slow down", ""},
		{"ok/canceled", fmt.Errorf("query: %w", context.Canceled), connect.CodeCanceled, "request canceled", ""},
		{"ok/deadline", context.DeadlineExceeded, connect.CodeDeadlineExceeded, "deadline exceeded", ""},
		{"hidden/internal failure shows no cause", failure.Internal(errors.New("password=hunter2"), "db down"), connect.CodeInternal, "internal error", ""},
		{"ok/database unavailable may be retried", failure.Internal(fmt.Errorf("password=hunter2: %w", driver.ErrBadConn), "push"),
			connect.CodeUnavailable, "the database is unavailable; retry in a few seconds", ""},
		{"ok/database unavailable, not wrapped", &pgconn.PgError{Code: "57P03"}, connect.CodeUnavailable, "the database is unavailable; retry in a few seconds", ""},
		{"ok/a domain error keeps its kind over the database's", failure.NotFound("no user: %v", driver.ErrBadConn), connect.CodeNotFound, "no user: driver: bad connection", ""},
		{"hidden/plain error is internal", errors.New("pq: relation users does not exist"), connect.CodeInternal, "internal error", ""},
		{"hidden/unknown kind is internal", &failure.Error{Kind: failure.Kind(99), Message: "odd"}, connect.CodeInternal, "internal error", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce := connectError(tc.err)
			if ce.Code() != tc.code || ce.Message() != tc.msg {
				t.Fatalf("got %v %q, want %v %q", ce.Code(), ce.Message(), tc.code, tc.msg)
			}
			if got := fieldViolations(t, ce); (tc.field == "" && len(got) != 0) || (tc.field != "" && (len(got) != 1 || got[0] != tc.field)) {
				t.Fatalf("field violations %v, want %q", got, tc.field)
			}
			if retry := ce.Meta().Get("Retry-After"); (retry != "") != (tc.code == connect.CodeUnavailable) {
				t.Fatalf("Retry-After %q", retry)
			}
		})
	}
	if ce := connectError(fmt.Errorf("verify: %w", password.ErrBusy)); ce.Code() != connect.CodeUnavailable || ce.Meta().Get("Connection") != "close" {
		t.Fatalf("a busy hasher: %v, Connection %q", ce.Code(), ce.Meta().Get("Connection"))
	}
	if ce := connectError(failure.Unavailable("no email provider")); ce.Meta().Get("Connection") != "" {
		t.Fatal("an unavailable provider closes the connection")
	}
	if connectError(nil) != nil {
		t.Fatal("nil error mapped to an error")
	}
}

func TestEveryKindHasACode(t *testing.T) {
	for k := failure.KindInternal; k.String() != fmt.Sprintf("kind(%d)", int(k)); k++ {
		if _, ok := codes[k]; !ok {
			t.Errorf("failure.%s has no Connect code", k)
		}
	}
}

// fieldViolations returns the fields of the BadRequest details of ce.
func fieldViolations(t *testing.T, ce *connect.Error) []string {
	t.Helper()
	var fields []string
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Fatal(err)
		}
		br, ok := v.(*errdetails.BadRequest)
		if !ok {
			t.Fatalf("unexpected detail %T", v)
		}
		for _, fv := range br.GetFieldViolations() {
			fields = append(fields, fv.GetField())
		}
	}
	return fields
}
