package user

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/settings"
)

// MayRegisterPasskey refuses, as failure.FailedPrecondition, a WebAuthn
// registration that u's type or the login settings in force for its
// organization do not allow: the type must list "passkey", the settings
// must allow passkeys and, for a passwordless one, signing in without a
// password. The user API and the hosted login ask it before a
// registration begins and again before it finishes.
func MayRegisterPasskey(ctx context.Context, db *database.DB, u User, passwordless bool) error {
	ok, err := MayUse(ctx, db, u, settings.AuthPasskey)
	if err != nil {
		return err
	}
	if !ok {
		return failure.FailedPrecondition("users of type %s do not use the authenticator passkey", u.Type)
	}
	eff, err := settings.Effective(ctx, db, u.InstanceID, u.OrgID)
	if err != nil {
		return err
	}
	if !slices.Contains(eff.Login.AllowedAuthenticators, settings.AuthPasskey) {
		return failure.FailedPrecondition("the login settings of the user's organization do not allow passkeys")
	}
	if passwordless && !eff.Login.PasswordlessAllowed {
		return failure.FailedPrecondition("the login settings of the user's organization do not allow signing in without a password")
	}
	return nil
}
