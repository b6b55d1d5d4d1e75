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
	db    *database.DB
	now   func() time.Time
	cache *cache
	// access verifies the provider's access tokens; nil: personal access
	// tokens only (access.go).
	access      AccessTokens
	externalURL string
}

// MaxStale is how long a cached caller is used without reading whether
// anything it was built from changed, when the change was made by another
// process (a change made by this one is seen at once). See cache.go.
const MaxStale = time.Second

// New returns an Authenticator reading tokens and members from db; now may
// be nil (time.Now). It does not cache callers; WithCache does.
func New(db *database.DB, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	return &Authenticator{db: db, now: now}
}

// WithCache returns a copy of a that keeps authenticated callers in memory
// (cache.go):
// changed is the store's Changed (eventstore.Store.Changed), closed after
// every local append; maxStale bounds how long a change made by another
// replica goes unseen (MaxStale in production; 0: checked on every call).
func (a *Authenticator) WithCache(changed func() <-chan struct{}, maxStale time.Duration) *Authenticator {
	cp := *a
	cp.cache = &cache{db: a.db, changed: changed, maxStale: maxStale, maxSize: 10000, instances: map[string]*instanceCache{}}
	return &cp
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
// user of the request's instance, or (WithAccessTokens) an access token of
// its OpenID provider for the management API. Every failure of a personal
// access token is the same failure.Unauthenticated, so that a caller
// cannot probe which part failed; an access token that verified but is
// not for the API says why (its holder can read its claims anyway).
func (a *Authenticator) Caller(ctx context.Context, h http.Header) (authz.Caller, error) {
	inst, ok := instance.FromContext(ctx)
	if !ok {
		return authz.Caller{}, failure.Internal(nil, "no instance in the request context")
	}
	token, ok := bearerToken(h.Get("Authorization"))
	if !ok {
		return authz.Caller{}, unauthenticated()
	}
	if a.isAccessToken(token) {
		return a.accessCaller(ctx, inst, token)
	}
	if a.cache == nil {
		c, _, err := a.load(ctx, inst.ID, token)
		return c, err
	}
	hash := pat.Hash(token)
	now := a.now()
	c, ok, version, err := a.cache.lookup(ctx, inst.ID, hash, now)
	if err != nil || ok {
		return c, err
	}
	c, expires, err := a.load(ctx, inst.ID, token)
	if err != nil {
		return authz.Caller{}, err
	}
	if a.cache.afterLoad != nil {
		a.cache.afterLoad()
	}
	a.cache.store(inst.ID, hash, version, c, expires)
	return c, nil
}

// load authenticates token from the database and returns its caller and
// the token's expiry.
func (a *Authenticator) load(ctx context.Context, instanceID, token string) (authz.Caller, int64, error) {
	tok, err := pat.AuthenticateToken(ctx, a.db, instanceID, token, a.now())
	userID, expires := tok.UserID, tok.ExpiresAt
	if err != nil {
		if failure.Is(err, failure.KindUnauthenticated) {
			return authz.Caller{}, 0, unauthenticated()
		}
		return authz.Caller{}, 0, err
	}
	active, err := user.Active(ctx, a.db, instanceID, userID)
	if err != nil {
		return authz.Caller{}, 0, err
	}
	if !active {
		return authz.Caller{}, 0, unauthenticated()
	}
	c, err := member.LoadCaller(ctx, a.db, instanceID, userID)
	c.ClientID, c.SessionID = "api", tok.TokenID
	return c, expires, err
}
