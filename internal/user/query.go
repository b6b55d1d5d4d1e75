package user

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
	u := User{InstanceID: instanceID}
	var traits, state string
	var created, changed int64
	err := row.Scan(&u.ID, &u.OrgID, &u.SchemaID, &u.Type, &u.SchemaRevision, &u.LoginName, &traits, &u.Email, &u.EmailVerified,
		&u.Phone, &u.PhoneVerified, &state, &u.HasPassword, &u.PasswordChangeRequired, &created, &changed, &u.Sequence)
	u.Traits, u.State = json.RawMessage(traits), State(state)
	u.CreatedAt, u.ChangedAt = time.UnixMicro(created).UTC(), time.UnixMicro(changed).UTC()
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

// TraitFilter matches users whose trait at Pointer equals Value, or starts
// with it when Prefix is set.
type TraitFilter struct {
	Pointer string
	Value   string
	Prefix  bool
}

// Search selects users. Every set field narrows the result.
type Search struct {
	OrgID           string
	Type            string
	State           State
	LoginName       string // exact, case-insensitive
	LoginNamePrefix string // case-insensitive
	Email           string // exact, case-insensitive
	Traits          []TraitFilter
	// SortBy is "loginName" (default) or "createdAt".
	SortBy     string
	Descending bool
	// Cursor continues a previous page; Limit is 1 to 1000 (default 50).
	Cursor string
	Limit  int
}

// Page is one page of a search.
type Page struct {
	Users      []User
	NextCursor string
	// Total counts every user matching the filters, across pages: as of
	// the first page on a Searcher's later pages, as of this page on
	// Find's.
	Total int
}

// upperBound is the smallest string greater than every string starting
// with prefix, in byte order (the collation of the indexed columns).
func upperBound(prefix string) string { return prefix + "\U0010FFFF" }

// Find runs a search, filtered for role. Its cursors carry the first
// page's total, authenticated (see cursor.go).
func (sr *Searcher) Find(ctx context.Context, instanceID string, s Search, role userschema.Role) (Page, error) {
	db := sr.db
	limit := s.Limit
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 1000 {
		return Page{}, failure.InvalidArgument("limit", "between 1 and 1000")
	}
	if err := checkSearchable(ctx, db, instanceID, s, role); err != nil {
		return Page{}, err
	}
	var (
		where = []string{"instance_id = $1"}
		args  = []any{instanceID}
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if s.OrgID != "" {
		where = append(where, "org_id = "+arg(s.OrgID))
	}
	if s.Type != "" {
		where = append(where, "schema_type = "+arg(s.Type))
	}
	if s.State != "" {
		where = append(where, "state = "+arg(string(s.State)))
	}
	if s.LoginName != "" {
		where = append(where, "login_name_lower = "+arg(LoginNameKey(s.LoginName)))
	}
	if s.LoginNamePrefix != "" {
		p := loginNamePrefixKey(s.LoginNamePrefix)
		where = append(where, "login_name_lower >= "+arg(p)+" AND login_name_lower < "+arg(upperBound(p)))
	}
	if s.Email != "" {
		where = append(where, "email_lower = "+arg(strings.ToLower(s.Email)))
	}
	for i, t := range s.Traits {
		if !strings.HasPrefix(t.Pointer, "/") {
			return Page{}, failure.InvalidArgument(fmt.Sprintf("traits[%d].pointer", i), "a JSON pointer starting with /")
		}
		cond := "value = " + arg(t.Value)
		if t.Prefix {
			cond = "value >= " + arg(t.Value) + " AND value < " + arg(upperBound(t.Value))
		}
		where = append(where, "id IN (SELECT user_id FROM user_traits WHERE instance_id = $1 AND pointer = "+arg(t.Pointer)+" AND "+cond+")")
	}
	filter := strings.Join(where, " AND ")
	key := "login_name_lower"
	switch s.SortBy {
	case "", "loginName":
	case "createdAt":
		key = "created_at"
	default:
		return Page{}, failure.InvalidArgument("sortBy", "loginName or createdAt")
	}
	scope := newSearchScope(instanceID, s, key, role)
	var (
		c       cursor
		total   int
		counted bool // the cursor carries an authenticated total
	)
	if s.Cursor != "" {
		var err error
		if c, counted, err = sr.decodeCursor(scope, s.Cursor); err != nil {
			return Page{}, err
		}
		total = c.Total
	}
	// With a key ring the total is counted for the first page only; later
	// pages report the count their authenticated cursor carries, so a deep
	// page costs what a first page does.
	if !counted {
		if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM users WHERE `+filter, args...).Scan(&total); err != nil {
			return Page{}, fmt.Errorf("user: count: %w", err)
		}
	}
	order, cmp := "ASC", ">"
	if s.Descending {
		order, cmp = "DESC", "<"
	}
	if s.Cursor != "" {
		var k any = c.Key
		if key == "created_at" {
			var n int64
			if _, err := fmt.Sscan(c.Key, &n); err != nil {
				return Page{}, failure.InvalidArgument("cursor", "not a cursor of a search sorted by createdAt")
			}
			k = n
		}
		// A row-value comparison is what lets both databases seek the
		// (…, key, id) index to the cursor instead of filtering every row
		// before it. Login names are unique, so the key alone is enough.
		if key == "login_name_lower" {
			filter += fmt.Sprintf(" AND %s %s %s", key, cmp, arg(k))
		} else {
			filter += fmt.Sprintf(" AND (%s, id) %s (%s, %s)", key, cmp, arg(k), arg(c.ID))
		}
	}
	orderBy := fmt.Sprintf(`%s %s, id %s`, key, order, order)
	if key == "login_name_lower" {
		orderBy = key + " " + order
	}
	rows, err := db.Reader().QueryContext(ctx, `SELECT `+userColumns+`, `+key+` FROM users WHERE `+filter+
		fmt.Sprintf(` ORDER BY %s LIMIT %d`, orderBy, limit+1), args...)
	if err != nil {
		return Page{}, fmt.Errorf("user: search: %w", err)
	}
	defer rows.Close()
	page := Page{Total: total}
	var lastKey string
	for rows.Next() {
		var sortKey any
		u, err := scanUser(instanceID, scanner(func(dest ...any) error { return rows.Scan(append(dest, &sortKey)...) }))
		if err != nil {
			return Page{}, err
		}
		if len(page.Users) == limit {
			if page.NextCursor, err = sr.encodeCursor(scope, lastKey, page.Users[len(page.Users)-1].ID, total); err != nil {
				return Page{}, err
			}
			break
		}
		lastKey = fmt.Sprint(sortKey)
		if b, ok := sortKey.([]byte); ok {
			lastKey = string(b)
		}
		page.Users = append(page.Users, u)
	}
	if err := rows.Err(); err != nil {
		return Page{}, err
	}
	schemas := map[schemaRevision]*userschema.Schema{} // a page holds few types: compile each once
	for i := range page.Users {
		if page.Users[i], err = filterTraitsWith(ctx, db, page.Users[i], role, schemas); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

type scanner func(dest ...any) error

func (s scanner) Scan(dest ...any) error { return s(dest...) }

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
