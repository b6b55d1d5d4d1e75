package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Contact is a user without its traits: what the claims of a token need
// about a user, and whether it may still hold tokens, in one read of one
// row (no schema, no trait filtering).
type Contact struct {
	ID, OrgID, LoginName         string
	Email, Phone                 string
	EmailVerified, PhoneVerified bool
	SchemaID                     string
	SchemaRevision               int
	ChangedAt                    time.Time
	// Active: the user and its organization are active.
	Active bool
}

// GetContact reads a user's contact, or failure.NotFound.
func GetContact(ctx context.Context, db *database.DB, instanceID, userID string) (Contact, error) {
	c := Contact{ID: userID}
	var state string
	var orgActive bool
	var changed int64
	// Every refresh grant, userinfo call and token's claims read it.
	err := db.ReadQueryRow(ctx, `SELECT org_id, login_name, email, email_verified, phone, phone_verified, schema_id, schema_revision,
	changed_at, state, org_active FROM users WHERE instance_id = $1 AND id = $2`, instanceID, userID).
		Scan(&c.OrgID, &c.LoginName, &c.Email, &c.EmailVerified, &c.Phone, &c.PhoneVerified, &c.SchemaID, &c.SchemaRevision, &changed, &state, &orgActive)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, failure.NotFound("user %s not found", userID)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("user: %s: %w", userID, err)
	}
	c.ChangedAt = time.UnixMicro(changed).UTC()
	c.Active = State(state) == StateActive && orgActive
	return c, nil
}
