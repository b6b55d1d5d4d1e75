package history

import (
	"context"
	"slices"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Administrators as they were. The members projection reads no table but
// its own, so folding every event it handles (member.CallerChangeTypes:
// memberships, custom roles, and the user, organization and grant changes
// that end memberships) up to a moment gives the administrator roles of
// the whole instance then, through the same reducer as the live model.

// membersAt replays the instance's administrator roles up to t.
func (r *Replayer) membersAt(ctx context.Context, instanceID string, t time.Time) (*database.DB, error) {
	if n, err := r.store.ArchivedCount(ctx, instanceID); err != nil || n > 0 {
		if err == nil {
			err = failure.FailedPrecondition("the instance's first %d events are archived: restore the archives (castellan audit restore) to see its administrators as they were", n)
		}
		return nil, err
	}
	events, err := r.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, EventTypes: member.CallerChangeTypes(), CreatedBefore: t, Limit: MaxEvents + 1})
	if err != nil {
		return nil, err
	}
	if len(events) > MaxEvents {
		return nil, failure.FailedPrecondition("the history asked for holds more than %d events", MaxEvents)
	}
	r.once.Do(func() { r.template, r.templateErr = r.makeTemplate(ctx) })
	if r.templateErr != nil {
		return nil, r.templateErr
	}
	db, err := database.OpenSQLiteMemory(ctx, r.template)
	if err != nil {
		return nil, err
	}
	err = db.InTx(ctx, func(tx *database.Tx) error {
		for i := range events {
			if err := (member.Projection{}).Reduce(ctx, tx, &events[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// visible keeps the memberships whose scope lies where may allows.
func visible(ms []authz.Membership, may func(authz.Scope) bool) []authz.Membership {
	return slices.DeleteFunc(ms, func(m authz.Membership) bool { return !may(m.Scope) })
}

// MembershipsAt returns the administrator roles a user held at t, those
// in scopes may allows.
func (r *Replayer) MembershipsAt(ctx context.Context, instanceID, userID string, t time.Time, may func(authz.Scope) bool) ([]authz.Membership, error) {
	db, err := r.membersAt(ctx, instanceID, t)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ms, err := member.OfUser(ctx, db, instanceID, userID)
	if err != nil {
		return nil, err
	}
	return visible(ms, may), nil
}

// Holder is a user who held a permission, with the memberships it held.
type Holder struct {
	UserID      string
	Memberships []authz.Membership
}

// PermissionHoldersAt returns the users who held permission p on scope at
// t through memberships in scopes may allows — an organization's
// administrator asking sees what its organization's memberships gave,
// not the instance's administrators.
func (r *Replayer) PermissionHoldersAt(ctx context.Context, instanceID string, p authz.Permission, scope authz.Scope, t time.Time, may func(authz.Scope) bool) ([]Holder, error) {
	db, err := r.membersAt(ctx, instanceID, t)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	book, err := member.RoleBookOf(ctx, db, instanceID)
	if err != nil {
		return nil, err
	}
	users, err := database.Strings(db.Reader().QueryContext(ctx, `SELECT DISTINCT user_id FROM members WHERE instance_id = $1 ORDER BY user_id`, instanceID))
	if err != nil {
		return nil, err
	}
	var out []Holder
	for _, u := range users {
		ms, err := member.OfUser(ctx, db, instanceID, u)
		if err != nil {
			return nil, err
		}
		ms = visible(ms, may)
		if member.CallerFrom(book, instanceID, u, ms).Can(p, scope) {
			out = append(out, Holder{UserID: u, Memberships: ms})
		}
	}
	return out, nil
}
