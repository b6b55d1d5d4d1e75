package setup

import (
	"context"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// RecoveryEditor is the editor of every change a recovery makes, so the
// audit trail shows that an operator used the break-glass command.
var RecoveryEditor = eventstore.Editor{UserID: "system", ClientID: "castellan admin recover"}

// RecoveryTokenLifetime bounds the personal access token a recovery
// prints: long enough to repair the instance through the API, short enough
// that a forgotten terminal does not leave an owner's credential behind.
const RecoveryTokenLifetime = time.Hour

// Recovery asks for an instance owner to be restored.
type Recovery struct {
	InstanceID string
	LoginName  string
	// OrgID is where a missing user is created; empty means the instance's
	// first organization by name.
	OrgID string
}

// Recovered reports what a recovery did, with the one-time credentials.
type Recovered struct {
	UserID    string
	OrgID     string
	Created   bool
	LoginName string
	// Password must be changed at the next sign-in.
	Password string
	// Token is a personal access token valid for RecoveryTokenLifetime.
	Token string
}

// Recover is the break-glass path for operators who hold the server's
// database and keys (Keycloak's bootstrap-admin): it makes the user with
// the login name an active instance owner — creating it when missing,
// reactivating or unlocking it, reactivating its organization — and gives
// it a new generated password (to be changed at sign-in) and a short-lived
// personal access token. Every change is an event by RecoveryEditor.
func Recover(ctx context.Context, store *eventstore.Store, users *user.Commands, r Recovery, now time.Time) (Recovered, error) {
	db := store.DB()
	secret, err := password.Generate(20)
	if err != nil {
		return Recovered{}, err
	}
	out := Recovered{LoginName: r.LoginName, Password: secret}
	found, err := user.Find(ctx, db, r.InstanceID, user.Search{LoginName: r.LoginName, Limit: 1}, userschema.Admin)
	if err != nil {
		return Recovered{}, err
	}
	if len(found.Users) == 0 {
		if out.OrgID = r.OrgID; out.OrgID == "" {
			page, err := org.List(ctx, db, r.InstanceID, org.ListQuery{PageSize: 1})
			if err != nil {
				return Recovered{}, err
			}
			if len(page.Orgs) == 0 {
				return Recovered{}, failure.FailedPrecondition("the instance has no organization to create %s in", r.LoginName)
			}
			out.OrgID = page.Orgs[0].ID
		}
		if err := activateOrg(ctx, store, r.InstanceID, out.OrgID); err != nil {
			return Recovered{}, err
		}
		if out.UserID, err = users.Create(ctx, RecoveryEditor, r.InstanceID, user.New{OrgID: out.OrgID, Type: "human", LoginName: r.LoginName,
			Password: secret, ChangeRequired: true}); err != nil {
			return Recovered{}, err
		}
		out.Created = true
	} else {
		u := found.Users[0]
		out.UserID, out.OrgID, out.LoginName = u.ID, u.OrgID, u.LoginName
		if err := activateOrg(ctx, store, r.InstanceID, u.OrgID); err != nil {
			return Recovered{}, err
		}
		switch u.State {
		case user.StateLocked:
			err = users.Unlock(ctx, RecoveryEditor, r.InstanceID, u.ID)
		case user.StateInactive:
			err = users.Reactivate(ctx, RecoveryEditor, r.InstanceID, u.ID)
		}
		if err != nil {
			return Recovered{}, err
		}
		if err := users.SetPassword(ctx, RecoveryEditor, r.InstanceID, u.ID, secret, true); err != nil {
			return Recovered{}, err
		}
	}
	add, _, token, err := pat.New(eventstore.Aggregate{InstanceID: r.InstanceID, Type: user.AggregateType, ID: out.UserID, Owner: out.OrgID},
		now.Add(RecoveryTokenLifetime), now)
	if err != nil {
		return Recovered{}, err
	}
	if _, err := store.Push(ctx, RecoveryEditor, instance.AddMember(r.InstanceID, out.UserID, authz.InstanceOwner), add); err != nil {
		return Recovered{}, fmt.Errorf("setup: recover %s: %w", r.LoginName, err)
	}
	out.Token = token
	return out, nil
}

func activateOrg(ctx context.Context, store *eventstore.Store, instanceID, orgID string) error {
	state, err := org.StateOf(ctx, store.DB(), instanceID, orgID)
	if err != nil {
		return err
	}
	if state == org.StateActive {
		return nil
	}
	return org.NewCommands(store, org.NewVerifier()).Reactivate(ctx, RecoveryEditor, instanceID, orgID)
}
