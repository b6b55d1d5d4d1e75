package authn_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/token"
	"github.com/castellan-iam/castellan/internal/user"
)

// The management API accepts the provider's access tokens for its issuer,
// as their user with the user's permissions; tried as an attacker would:
// another audience, another issuer, another instance's token, expired,
// revoked, bound, delegated, a client's own token, a deactivated user.
func TestAccessTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		f := startOn(t, src)
		const external = "https://login.example"
		inst := instance.Instance{ID: f.InstanceID, PrimaryDomain: "id.example"}
		ctx := instance.WithContext(context.Background(), inst)
		issuer := inst.Issuer(external)
		tokens := token.NewTokens(f.App.Store, token.NewKeys(f.App.Store, f.App.Keys, nil), f.clock.Now)
		auth := authn.New(f.App.DB, f.clock.Now).WithCache(f.App.Store.Changed, authn.MaxStale).WithAccessTokens(tokens, external)
		header := func(raw string) http.Header { return http.Header{"Authorization": {"Bearer " + raw}} }
		issue := func(instanceID, format string, a token.Access) (string, token.AccessClaims) {
			t.Helper()
			if a.Issuer == "" {
				a.Issuer = issuer
			}
			if a.Subject == "" {
				a.Subject, a.ClientID = f.userID, f.userID
			}
			if a.Audience == nil {
				a.Audience = []string{issuer}
			}
			if a.Lifetime == 0 {
				a.Lifetime = time.Hour
			}
			raw, c, err := tokens.IssueAccess(context.Background(), instanceID, format, a)
			if err != nil {
				t.Fatal(err)
			}
			return raw, c
		}
		refused := func(name, raw string) {
			t.Helper()
			if _, err := auth.Caller(ctx, header(raw)); !failure.Is(err, failure.KindUnauthenticated) {
				t.Errorf("%s: %v", name, err)
			}
		}
		for _, format := range []string{"jwt", "opaque"} {
			raw, claims := issue(f.InstanceID, format, token.Access{})
			c, err := auth.Caller(ctx, header(raw))
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			if c.UserID != f.userID || !c.Can(authz.UserWrite, authz.Org(f.OrgID)) || c.Can(authz.InstanceWrite, authz.Instance()) ||
				c.Can(authz.UserWrite, authz.Org("another-org")) {
				t.Fatalf("%s: the caller %+v has not the user's permissions", format, c)
			}
			// A personal access token of the same user still works.
			if _, err := auth.Caller(ctx, f.header); err != nil {
				t.Fatalf("the personal access token: %v", err)
			}

			other, _ := issue(f.InstanceID, format, token.Access{Audience: []string{"a-project-id"}})
			refused(format+": a token for a project", other)
			other, _ = issue(f.InstanceID, format, token.Access{Issuer: "https://elsewhere.example", Audience: []string{issuer}})
			refused(format+": another issuer", other)
			other, _ = issue("another-instance", format, token.Access{})
			refused(format+": another instance's token", other)
			other, _ = issue(f.InstanceID, format, token.Access{Cnf: &oauth.Confirmation{JKT: "thumbprint"}})
			refused(format+": a DPoP-bound token", other)
			other, _ = issue(f.InstanceID, format, token.Access{Cnf: &oauth.Confirmation{X5TS256: "thumbprint"}})
			refused(format+": a certificate-bound token", other)
			other, _ = issue(f.InstanceID, format, token.Access{Act: &token.Actor{Subject: "svc", ClientID: "svc"}})
			refused(format+": a delegated token", other)
			other, _ = issue(f.InstanceID, format, token.Access{Subject: "a-client", ClientID: "a-client"})
			refused(format+": a client's own token", other)
			other, _ = issue(f.InstanceID, format, token.Access{Lifetime: time.Minute})
			f.clock.Add(2 * time.Minute)
			refused(format+": an expired token", other)

			if err := tokens.Revoke(context.Background(), eventstore.SystemEditor, f.InstanceID, f.OrgID, claims); err != nil {
				t.Fatal(err)
			}
			refused(format+": a revoked token", raw)
		}
		refused("garbage", "eyJhbGciOiJub25lIn0.e30.")
		refused("a token of 17 KiB", strings.Repeat("A", 17<<10))
		refused("an unknown opaque token", "cat_"+strings.Repeat("A", 43))

		// A deactivated user's token stops working.
		raw, _ := issue(f.InstanceID, "jwt", token.Access{})
		if _, err := auth.Caller(ctx, header(raw)); err != nil {
			t.Fatal(err)
		}
		if err := user.NewCommands(f.App.Store, f.App.Hasher).Deactivate(ctx, eventstore.SystemEditor, f.InstanceID, f.userID); err != nil {
			t.Fatal(err)
		}
		refused("a deactivated user", raw)
	})
}
