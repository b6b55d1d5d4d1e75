package member

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/user"
)

// Leaving is what a change takes away from the instance's owners: a user
// that will no longer be active (locked, deactivated, deleted), or an
// organization whose users will no longer be active (deactivated,
// removed).
type Leaving struct {
	UserID string
	OrgID  string
}

// RequireOwnerRemains refuses a change that would leave the instance
// without an active owner: an instance owner that is active and belongs to
// an active organization, other than what leaves. Nobody could then
// administer the instance through the API; `castellan admin recover` is the
// operators' way back.
//
// The check reads the read models before the change is pushed; two changes
// that each remove one of the last two owners at the same moment can both
// pass it. Owners are few and changed rarely, and the break-glass command
// repairs the outcome.
func RequireOwnerRemains(ctx context.Context, db *database.DB, instanceID string, leaving Leaving) error {
	members, err := List(ctx, db, instanceID, authz.InstanceScope(instanceID))
	if err != nil {
		return err
	}
	return ownerRemains(ctx, db, instanceID, members, leaving)
}

// ownerRemains is RequireOwnerRemains over the instance's members, read.
func ownerRemains(ctx context.Context, db *database.DB, instanceID string, members []Member, leaving Leaving) error {
	affected := false
	remaining := 0
	for _, m := range members {
		if !slices.Contains(m.Roles, authz.InstanceOwner) {
			continue
		}
		s, err := user.StandingOf(ctx, db, instanceID, m.UserID)
		if failure.Is(err, failure.KindNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !s.Active {
			continue
		}
		if m.UserID == leaving.UserID || (leaving.OrgID != "" && s.OrgID == leaving.OrgID) {
			affected = true
			continue
		}
		remaining++
	}
	if affected && remaining == 0 {
		if leaving.OrgID != "" {
			return failure.FailedPrecondition("organization %s holds the last active owner of the instance; make another user instance.owner first", leaving.OrgID)
		}
		return failure.FailedPrecondition("user %s is the last active owner of the instance; make another user instance.owner first", leaving.UserID)
	}
	return nil
}

// RequireCoversOrgUsers applies the rule against escalation to a change of
// a whole organization's state: deactivating or removing it ends the
// activity of every user in it, so the caller must cover (Caller.Covers)
// every administrator among them.
func RequireCoversOrgUsers(ctx context.Context, db *database.DB, c authz.Caller, orgID string) error {
	ids, err := administrators(ctx, db, c.InstanceID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		s, err := user.StandingOf(ctx, db, c.InstanceID, id)
		if failure.Is(err, failure.KindNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if s.OrgID != orgID {
			continue
		}
		holder, err := LoadCaller(ctx, db, c.InstanceID, id)
		if err != nil {
			return err
		}
		if !c.Covers(holder) {
			return failure.PermissionDenied("organization %s has users holding permissions you do not hold; only an administrator holding all of them may deactivate or delete it", orgID)
		}
	}
	return nil
}
