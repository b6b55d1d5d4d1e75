package setup_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/setup"
	"github.com/castellan-iam/castellan/internal/user"
)

func TestRecoverRestoresAnOwner(t *testing.T) {
	ctx := context.Background()
	env := apitest.Start(t, func(*app.App, *authn.Authenticator) []api.Service { return nil })
	users := user.NewCommands(env.App.Store, env.App.Hasher)
	// Everything that could lock the owners out, done behind the API's back.
	if err := users.Lock(ctx, eventstore.SystemEditor, env.InstanceID, env.AdminID); err != nil {
		t.Fatal(err)
	}
	if err := org.NewCommands(env.App.Store, org.NewVerifier()).Deactivate(ctx, eventstore.SystemEditor, env.InstanceID, env.OrgID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	got, err := setup.Recover(ctx, env.App.Store, users, setup.Recovery{InstanceID: env.InstanceID, LoginName: "ADMIN"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Created || got.UserID != env.AdminID || len(got.Password) != 20 {
		t.Fatalf("recovered %+v", got)
	}
	if active, err := user.Active(ctx, env.App.DB, env.InstanceID, env.AdminID); err != nil || !active {
		t.Fatalf("owner active after recovery: %v %v", active, err)
	}
	if id, err := users.CheckPassword(ctx, env.InstanceID, "admin", got.Password); err != nil || id != env.AdminID {
		t.Fatalf("the one-time password: %q %v", id, err)
	}
	if id, err := pat.Authenticate(ctx, env.App.DB, env.InstanceID, got.Token, now.Add(setup.RecoveryTokenLifetime-time.Minute)); err != nil || id != env.AdminID {
		t.Fatalf("the recovery token: %q %v", id, err)
	}
	if _, err := pat.Authenticate(ctx, env.App.DB, env.InstanceID, got.Token, now.Add(setup.RecoveryTokenLifetime+time.Minute)); err == nil {
		t.Fatal("the recovery token outlives its hour")
	}

	// A missing user is created as an owner.
	got, err = setup.Recover(ctx, env.App.Store, users, setup.Recovery{InstanceID: env.InstanceID, LoginName: "rescue"}, now)
	if err != nil || !got.Created || got.OrgID != env.OrgID {
		t.Fatalf("recovered %+v %v", got, err)
	}
	c, err := member.LoadCaller(ctx, env.App.DB, env.InstanceID, got.UserID)
	if err != nil || !slices.Contains(c.InstanceRoles, authz.InstanceOwner) {
		t.Fatalf("roles of the created owner: %v %v", c.InstanceRoles, err)
	}

	// The audit trail names the command.
	events, err := env.App.Store.Query(ctx, eventstore.Filter{InstanceID: env.InstanceID, AggregateTypes: []string{instance.AggregateType}})
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Editor != setup.RecoveryEditor {
		t.Fatalf("editor of the owner grant: %+v", last.Editor)
	}
}
