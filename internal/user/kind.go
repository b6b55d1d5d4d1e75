package user

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
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
	if u.SchemaID == "" {
		return false, nil
	}
	schema, err := usertype.Compiled(ctx, db, u.InstanceID, u.SchemaID, u.SchemaRevision)
	if err != nil {
		return false, err
	}
	return !slices.ContainsFunc(schema.Authenticators(), func(a string) bool {
		return slices.Contains(interactiveAuthenticators, a)
	}), nil
}

// CountInOrg counts the users (of any state but deleted) of an organization.
func CountInOrg(ctx context.Context, db *database.DB, instanceID, orgID string) (int, error) {
	var n int
	err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM users WHERE instance_id = $1 AND org_id = $2`, instanceID, orgID).Scan(&n)
	return n, err
}

// Aggregate is the event store aggregate of u, for packages that record
// facts about a user's credentials on it (personal access tokens, machine
// keys).
func (u User) Aggregate() eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: u.InstanceID, Type: AggregateType, ID: u.ID, Owner: u.OrgID}
}

// MayUse reports whether u's type (in the revision u was written with)
// lists the authenticator, such as "pat" or "password".
func MayUse(ctx context.Context, db *database.DB, u User, authenticator string) (bool, error) {
	if u.SchemaID == "" {
		return false, nil
	}
	schema, err := usertype.Compiled(ctx, db, u.InstanceID, u.SchemaID, u.SchemaRevision)
	if err != nil {
		return false, err
	}
	return slices.Contains(schema.Authenticators(), authenticator), nil
}
