package authn_test

import (
	"testing"

	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/pairbench"
)

// BenchmarkPermissionDecision measures the permission decision of an API
// call: authenticating a personal access token from the request's header
// and Require of a permission on an organization — through the caller
// cache (cached), and, timed alternately in the same loop, without it
// (uncached: the token's row, the user's standing, the custom roles and
// the memberships read from the database on every call, as every call did
// before the cache). docs/benchmarks.md has the figures.
func BenchmarkPermissionDecision(b *testing.B) {
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			f := startOn(b, backend.New(b))
			cached := authn.New(f.App.DB, nil).WithCache(f.App.Store.Changed, authn.MaxStale)
			uncached := authn.New(f.App.DB, nil)
			scope := authz.Org(f.OrgID)
			decide := func(a *authn.Authenticator) func(int) error {
				return func(int) error {
					c, err := a.Caller(f.ctx, f.header)
					if err != nil {
						return err
					}
					if err := c.Require(authz.UserWrite, scope); err != nil {
						return err
					}
					if c.Can(authz.OrgDelete, scope) {
						return failure.Internal(nil, "a user manager deletes the organization")
					}
					return nil
				}
			}
			pairbench.Alternate(b, "cached", decide(cached), "uncached", decide(uncached))
		})
	}
}
