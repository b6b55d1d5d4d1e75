package user

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// User is a user as the read model holds it.
type User struct {
	InstanceID             string
	ID                     string
	OrgID                  string
	SchemaID               string
	Type                   string
	SchemaRevision         int
	LoginName              string
	Traits                 json.RawMessage
	Email                  string
	EmailVerified          bool
	Phone                  string
	PhoneVerified          bool
	State                  State
	HasPassword            bool
	PasswordChangeRequired bool
	CreatedAt              time.Time
	ChangedAt              time.Time
	Sequence               int64
}

const userColumns = `id, org_id, schema_id, schema_type, schema_revision, login_name, traits, email, email_verified, phone, phone_verified,
	state, password_hash <> '', password_change_required, created_at, changed_at, sequence`

func scanUser(instanceID string, row interface{ Scan(...any) error }) (User, error) {
	return newUserScan().scan(instanceID, row.Scan)
}

// userScan scans rows of userColumns, followed by the extra columns it
// was made with, through one set of destinations (a page's rows reuse
// them instead of allocating each its own).
type userScan struct {
	u                User
	traits, state    string
	created, changed int64
	dest             []any
}

func newUserScan(extra ...any) *userScan {
	s := &userScan{}
	s.dest = append([]any{&s.u.ID, &s.u.OrgID, &s.u.SchemaID, &s.u.Type, &s.u.SchemaRevision, &s.u.LoginName, &s.traits, &s.u.Email,
		&s.u.EmailVerified, &s.u.Phone, &s.u.PhoneVerified, &s.state, &s.u.HasPassword, &s.u.PasswordChangeRequired, &s.created, &s.changed,
		&s.u.Sequence}, extra...)
	return s
}

func (s *userScan) scan(instanceID string, scan func(...any) error) (User, error) {
	s.u = User{}
	err := scan(s.dest...)
	u := s.u
	u.InstanceID = instanceID
	u.Traits, u.State = json.RawMessage(s.traits), State(s.state)
	u.CreatedAt, u.ChangedAt = time.UnixMicro(s.created).UTC(), time.UnixMicro(s.changed).UTC()
	return u, err
}

// Get reads a user. Its traits are filtered to what role may read under
// the schema revision they were written with.
func Get(ctx context.Context, db *database.DB, instanceID, userID string, role userschema.Role) (User, error) {
	u, err := scanUser(instanceID, db.Reader().QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE instance_id = $1 AND id = $2`, instanceID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, failure.NotFound("user %s not found", userID)
	}
	if err != nil {
		return User{}, fmt.Errorf("user: get %s: %w", userID, err)
	}
	return filterTraits(ctx, db, u, role)
}

func filterTraits(ctx context.Context, db *database.DB, u User, role userschema.Role) (User, error) {
	return filterTraitsWith(ctx, db, u, role, nil)
}

type schemaRevision struct {
	id       string
	revision int
}

// filterTraitsWith is filterTraits remembering compiled schemas in cache
// (when not nil) across the users of one page.
func filterTraitsWith(ctx context.Context, db *database.DB, u User, role userschema.Role, cache map[schemaRevision]*userschema.Schema) (User, error) {
	if u.SchemaID == "" {
		return u, nil
	}
	key := schemaRevision{u.SchemaID, u.SchemaRevision}
	schema := cache[key]
	if schema == nil {
		var err error
		if schema, err = usertype.Compiled(ctx, db, u.InstanceID, u.SchemaID, u.SchemaRevision); err != nil {
			return User{}, err
		}
		if cache != nil {
			cache[key] = schema
		}
	}
	if schema.ReadsAll(role) {
		return u, nil // nothing hidden from role: the traits as written
	}
	var err error
	if u.Traits, err = schema.FilterReadable(u.Traits, role); err != nil {
		return User{}, err
	}
	return u, nil
}

// CountByType counts the users of a user type (for usertype.Delete).
func CountByType(db *database.DB) func(ctx context.Context, instanceID, schemaID string) (int, error) {
	return func(ctx context.Context, instanceID, schemaID string) (int, error) {
		var n int
		err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM users WHERE instance_id = $1 AND schema_id = $2`, instanceID, schemaID).Scan(&n)
		return n, err
	}
}

// Exists reports whether the instance has the user.
func Exists(ctx context.Context, db *database.DB, instanceID, userID string) (bool, error) {
	var one int
	err := db.Reader().QueryRowContext(ctx, `SELECT 1 FROM users WHERE instance_id = $1 AND id = $2`, instanceID, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Standing is what other packages need to know of a user without reading
// its traits: its organization, and whether it may authenticate (it is
// active and so is its organization — deactivating an organization
// suspends its users).
type Standing struct {
	OrgID  string
	Active bool
	// Locked: the user is locked (after too many wrong answers, or by an
	// administrator).
	Locked bool
}

// StandingOf reads a user's standing in one look-up of its row; a user the
// instance does not have is failure.NotFound.
func StandingOf(ctx context.Context, db *database.DB, instanceID, userID string) (Standing, error) {
	var s Standing
	var state string
	var orgActive bool
	err := db.Reader().QueryRowContext(ctx, `SELECT org_id, state, org_active FROM users WHERE instance_id = $1 AND id = $2`, instanceID, userID).
		Scan(&s.OrgID, &state, &orgActive)
	if errors.Is(err, sql.ErrNoRows) {
		return Standing{}, failure.NotFound("user %s not found", userID)
	}
	if err != nil {
		return Standing{}, fmt.Errorf("user: standing of %s: %w", userID, err)
	}
	s.Active = State(state) == StateActive && orgActive
	s.Locked = State(state) == StateLocked
	return s, nil
}

// Active reports whether the user may authenticate (Standing.Active); a
// missing user may not.
func Active(ctx context.Context, db *database.DB, instanceID, userID string) (bool, error) {
	s, err := StandingOf(ctx, db, instanceID, userID)
	if failure.Is(err, failure.KindNotFound) {
		return false, nil
	}
	return s.Active, err
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
