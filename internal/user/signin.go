package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// FindByLoginName finds a user by login name, as a sign-in names it: the
// name itself (compared by its key, see LoginName), or — when orgID is
// given, the name has no "@" and the organization's login names end with
// its domain — the name completed with the organization's primary domain.
// No user is failure.NotFound. Traits are read as an administrator would.
func FindByLoginName(ctx context.Context, db *database.DB, instanceID, loginName, orgID string) (User, error) {
	u, err := byLoginName(ctx, db, instanceID, loginName)
	if !failure.Is(err, failure.KindNotFound) || orgID == "" || strings.Contains(loginName, "@") {
		return u, err
	}
	o, oerr := org.Get(ctx, db, instanceID, orgID)
	if failure.Is(oerr, failure.KindNotFound) || oerr == nil && (!o.LoginNameMustBeDomain || o.PrimaryDomain == "") {
		return User{}, err
	}
	if oerr != nil {
		return User{}, oerr
	}
	return byLoginName(ctx, db, instanceID, loginName+"@"+o.PrimaryDomain)
}

func byLoginName(ctx context.Context, db *database.DB, instanceID, loginName string) (User, error) {
	var id string
	err := db.Reader().QueryRowContext(ctx, `SELECT id FROM users WHERE instance_id = $1 AND login_name_lower = $2`,
		instanceID, LoginNameKey(loginName)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, failure.NotFound("no user has that login name")
	}
	if err != nil {
		return User{}, fmt.Errorf("user: find by login name: %w", err)
	}
	return Get(ctx, db, instanceID, id, userschema.Admin)
}
