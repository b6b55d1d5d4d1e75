package user

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// interactiveAuthenticators are the authenticators a person signs in
// with; a user type that lists none of them is a machine's.
var interactiveAuthenticators = []string{"password", "passkey", "totp", "otp_email", "otp_sms", "idp"}

// IsMachine reports whether u is a machine: a user whose type (in the
// revision u was written with) lists no authenticator a person signs in
// with, such as the default "machine" type (machine keys, personal access
// tokens, client certificates). Administrators may hand out credentials of
// machines; a person creates its own.
func IsMachine(ctx context.Context, db *database.DB, u User) (bool, error) {
	list, err := authenticators(ctx, db, u)
	return !slices.ContainsFunc(list, func(a string) bool { return slices.Contains(interactiveAuthenticators, a) }), err
}

// MayUse reports whether u's type (in the revision u was written with)
// lists the authenticator, such as "pat" or "password".
func MayUse(ctx context.Context, db *database.DB, u User, authenticator string) (bool, error) {
	list, err := authenticators(ctx, db, u)
	return slices.Contains(list, authenticator), err
}

// authenticators lists what u's type, in the revision u was written with,
// lets its users authenticate with.
func authenticators(ctx context.Context, db *database.DB, u User) ([]string, error) {
	if u.SchemaID == "" {
		return nil, nil
	}
	schema, err := usertype.Compiled(ctx, db, u.InstanceID, u.SchemaID, u.SchemaRevision)
	if err != nil {
		return nil, err
	}
	return schema.Authenticators(), nil
}
