package authn

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
)

// Authenticator turns a request's credential into the Caller it acts for.
// Each authenticated RPC starts with
//
//	caller, err := s.auth.Caller(ctx, req.Header())
//
// and then caller.Require(permission, scope).
type Authenticator struct {
	db  *database.DB
	now func() time.Time
}

// New returns an Authenticator reading tokens and members from db; now may
// be nil (time.Now).
func New(db *database.DB, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	return &Authenticator{db: db, now: now}
}

// bearerToken extracts the token of an "Authorization: Bearer TOKEN"
// header (RFC 6750 section 2.1; the scheme is case-insensitive).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != "" && !strings.ContainsAny(token, " \t")
}

func unauthenticated() error {
	return failure.Unauthenticated("a valid bearer token of an active user is required")
}

// Caller authenticates the request: a personal access token of an active
// user of the request's instance. Every failure is the same
// failure.Unauthenticated, so that a caller cannot probe which part failed.
func (a *Authenticator) Caller(ctx context.Context, h http.Header) (authz.Caller, error) {
	inst, ok := instance.FromContext(ctx)
	if !ok {
		return authz.Caller{}, failure.Internal(nil, "no instance in the request context")
	}
	token, ok := bearerToken(h.Get("Authorization"))
	if !ok {
		return authz.Caller{}, unauthenticated()
	}
	userID, err := pat.Authenticate(ctx, a.db, inst.ID, token, a.now())
	if err != nil {
		if failure.Is(err, failure.KindUnauthenticated) {
			return authz.Caller{}, unauthenticated()
		}
		return authz.Caller{}, err
	}
	active, err := user.Active(ctx, a.db, inst.ID, userID)
	if err != nil {
		return authz.Caller{}, err
	}
	if !active {
		return authz.Caller{}, unauthenticated()
	}
	c, err := member.LoadCaller(ctx, a.db, inst.ID, userID)
	c.ClientID = "api"
	return c, err
}
