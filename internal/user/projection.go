package user

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// Migrations create the user read model.
var Migrations = []database.Migration{{
	Name: "user/0001_users",
	SQLite: `CREATE TABLE users (instance_id TEXT NOT NULL, id TEXT NOT NULL, org_id TEXT NOT NULL, schema_type TEXT NOT NULL,
	login_name TEXT NOT NULL, login_name_lower TEXT NOT NULL, email TEXT NOT NULL, state TEXT NOT NULL,
	password_hash TEXT NOT NULL, password_change_required INTEGER NOT NULL, created_at INTEGER NOT NULL, sequence INTEGER NOT NULL,
	PRIMARY KEY (instance_id, id));
CREATE UNIQUE INDEX users_login_name ON users (instance_id, login_name_lower);`,
	Postgres: `CREATE TABLE users (instance_id TEXT NOT NULL, id TEXT NOT NULL, org_id TEXT NOT NULL, schema_type TEXT NOT NULL,
	login_name TEXT NOT NULL, login_name_lower TEXT NOT NULL, email TEXT NOT NULL, state TEXT NOT NULL,
	password_hash TEXT NOT NULL, password_change_required BOOLEAN NOT NULL, created_at BIGINT NOT NULL, sequence BIGINT NOT NULL,
	PRIMARY KEY (instance_id, id));
CREATE UNIQUE INDEX users_login_name ON users (instance_id, login_name_lower);`,
}, {
	Name: "user/0002_traits_contact_search",
	SQLite: `
ALTER TABLE users ADD COLUMN schema_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN schema_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN traits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN email_lower TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_org ON users (instance_id, org_id, login_name_lower);
CREATE INDEX users_schema ON users (instance_id, schema_id);
CREATE INDEX users_email ON users (instance_id, email_lower);
CREATE INDEX users_created ON users (instance_id, created_at, id);
CREATE TABLE user_traits (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, pointer TEXT NOT NULL, value TEXT NOT NULL,
	PRIMARY KEY (instance_id, user_id, pointer));
CREATE INDEX user_traits_value ON user_traits (instance_id, pointer, value, user_id);
CREATE TABLE user_metadata (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
	PRIMARY KEY (instance_id, user_id, key));`,
	Postgres: `
ALTER TABLE users ADD COLUMN schema_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN schema_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN traits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN email_lower TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone_verified BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ALTER COLUMN login_name_lower TYPE TEXT COLLATE "C";
CREATE INDEX users_org ON users (instance_id, org_id, login_name_lower);
CREATE INDEX users_schema ON users (instance_id, schema_id);
CREATE INDEX users_email ON users (instance_id, email_lower);
CREATE INDEX users_created ON users (instance_id, created_at, id);
CREATE TABLE user_traits (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, pointer TEXT NOT NULL, value TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (instance_id, user_id, pointer));
CREATE INDEX user_traits_value ON user_traits (instance_id, pointer, value, user_id);
CREATE TABLE user_metadata (instance_id TEXT NOT NULL, user_id TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL,
	PRIMARY KEY (instance_id, user_id, key));`,
}, {
	// Whether the user's organization is active, so that authenticating a
	// caller is one look-up of its user row (users.Active).
	Name:     "user/0003_org_active",
	SQLite:   `ALTER TABLE users ADD COLUMN org_active INTEGER NOT NULL DEFAULT 1`,
	Postgres: `ALTER TABLE users ADD COLUMN org_active BOOLEAN NOT NULL DEFAULT true`,
}, {
	// Search (query.go): user_search_fields lists the traits each user
	// type indexes; user_traits carries each user's sort keys, so that a
	// trait filter reads its matches in page order; every equality filter
	// has an index per sort order. Version 3 of the projection fills them.
	Name: "user/0004_search_indexes",
	SQLite: `CREATE TABLE user_search_fields (instance_id TEXT NOT NULL, schema_id TEXT NOT NULL, pointer TEXT NOT NULL,
	PRIMARY KEY (instance_id, schema_id, pointer));
ALTER TABLE user_traits ADD COLUMN login_name_lower TEXT NOT NULL DEFAULT '';
ALTER TABLE user_traits ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
DROP INDEX user_traits_value;
CREATE INDEX user_traits_login ON user_traits (instance_id, pointer, value, login_name_lower, user_id);
CREATE INDEX user_traits_created ON user_traits (instance_id, pointer, value, created_at, user_id);
DROP INDEX users_email;
CREATE INDEX users_email ON users (instance_id, email_lower, login_name_lower);
CREATE INDEX users_email_created ON users (instance_id, email_lower, created_at, id);
CREATE INDEX users_org_created ON users (instance_id, org_id, created_at, id);
CREATE INDEX users_state ON users (instance_id, state, login_name_lower);
CREATE INDEX users_state_created ON users (instance_id, state, created_at, id);
CREATE INDEX users_type ON users (instance_id, schema_type, login_name_lower);
CREATE INDEX users_type_created ON users (instance_id, schema_type, created_at, id);`,
	Postgres: `CREATE TABLE user_search_fields (instance_id TEXT NOT NULL, schema_id TEXT NOT NULL, pointer TEXT NOT NULL,
	PRIMARY KEY (instance_id, schema_id, pointer));
ALTER TABLE user_traits ADD COLUMN login_name_lower TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE user_traits ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
DROP INDEX user_traits_value;
CREATE INDEX user_traits_login ON user_traits (instance_id, pointer, value, login_name_lower, user_id);
CREATE INDEX user_traits_created ON user_traits (instance_id, pointer, value, created_at, user_id);
DROP INDEX users_email;
CREATE INDEX users_email ON users (instance_id, email_lower, login_name_lower);
CREATE INDEX users_email_created ON users (instance_id, email_lower, created_at, id);
CREATE INDEX users_org_created ON users (instance_id, org_id, created_at, id);
CREATE INDEX users_state ON users (instance_id, state, login_name_lower);
CREATE INDEX users_state_created ON users (instance_id, state, created_at, id);
CREATE INDEX users_type ON users (instance_id, schema_type, login_name_lower);
CREATE INDEX users_type_created ON users (instance_id, schema_type, created_at, id);`,
}, {
	// user_traits carries each user's organization (which never changes),
	// so that a trait equality within an organization reads its matches in
	// page order from one index range, as a trait equality alone does.
	// The rows written before are given their users' organizations here.
	Name: "user/0005_traits_org",
	SQLite: `ALTER TABLE user_traits ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
UPDATE user_traits SET org_id = coalesce((SELECT u.org_id FROM users AS u WHERE u.instance_id = user_traits.instance_id AND u.id = user_traits.user_id), '');
CREATE INDEX user_traits_org_login ON user_traits (instance_id, pointer, value, org_id, login_name_lower, user_id);
CREATE INDEX user_traits_org_created ON user_traits (instance_id, pointer, value, org_id, created_at, user_id);`,
	Postgres: `ALTER TABLE user_traits ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
UPDATE user_traits AS t SET org_id = u.org_id FROM users AS u WHERE u.instance_id = t.instance_id AND u.id = t.user_id;
CREATE INDEX user_traits_org_login ON user_traits (instance_id, pointer, value, org_id, login_name_lower, user_id);
CREATE INDEX user_traits_org_created ON user_traits (instance_id, pointer, value, org_id, created_at, user_id);`,
}, {
	// Searches count and read index entries only (index-only scans), which
	// PostgreSQL can answer without the table only on pages its visibility
	// map marks all-visible; updated rows clear the mark until a vacuum.
	// By default autovacuum waits for a fifth of a table to change (200,000
	// rows of a directory of a million users), and until then every
	// search reading a changed page reads the table as well. These tables
	// are vacuumed and analyzed after 2% instead. SQLite has nothing of
	// the kind.
	Name:   "user/0006_search_vacuum",
	SQLite: `SELECT 1`,
	Postgres: `ALTER TABLE users SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
ALTER TABLE user_traits SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);`,
}, {
	// The count of an instance's user type revisions, which a trait
	// search's check of its fields depends on (searchable.go): a cache of
	// that check reads one row to know whether it still holds.
	Name:     "user/0007_search_versions",
	SQLite:   `CREATE TABLE user_search_versions (instance_id TEXT PRIMARY KEY, version INTEGER NOT NULL)`,
	Postgres: `CREATE TABLE user_search_versions (instance_id TEXT PRIMARY KEY, version BIGINT NOT NULL)`,
}}

// Projection keeps users, user_traits, user_search_fields,
// user_search_versions and user_metadata. Deleted users leave the read
// model; their events stay.
//
// user_traits holds one row per searchable trait of a user — the fields
// the latest revision of its type marks "search": true, which
// user_search_fields lists per type — with the user's organization and
// sort keys. A type revision that marks a field searchable indexes it for
// every user of the type, in the transaction of the revision
// (proportional to the type's users); one that unmarks a field drops its
// rows.
//
// The column login_name_lower holds each login name's key (LoginNameKey);
// a rebuild recomputes the keys and claims the login names anew under them
// (FinishRebuild).
type Projection struct{}

func (Projection) Name() string { return "users" }
func (Projection) EventTypes() []string {
	// The organization's state is kept beside its users (org_active); a
	// lock after too many wrong one-time codes locks like one after
	// passwords.
	// The search fields follow the user types' revisions.
	return append(EventTypes(), eventstore.TypesOf(&org.Deactivated{}, &org.Reactivated{}, &credential.OTPLocked{},
		&usertype.Created{}, &usertype.Updated{})...)
}

// Version is the version of the rows this code derives
// (eventstore.Versioned); a server starting on older rows rebuilds them.
//
//	1: login_name_lower holds the RFC 8265 key of the login name, and login
//	   names are claimed under it (it was strings.ToLower).
//	2: org_active follows the organization's deactivation and reactivation.
//	3: user_traits holds only the fields user types mark "search", with
//	   the users' sort keys; user_search_fields lists them per type.
func (Projection) Version() int { return 3 }

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	// user_search_versions stays: a rebuild only ever counts further, since
	// a cache that saw count n would take a later n for "nothing changed".
	for _, table := range []string{"user_metadata", "user_traits", "user_search_fields", "users"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return err
		}
	}
	return nil
}

// ambiguousLoginNameKey is the key of a user whose login name normalizes
// to the key of an earlier user's: two names stored before login names
// were normalized, such as "admin" and "ａdmin". No typed name maps to it
// (a key has no spaces), so sign-in by that name finds the earlier user,
// and the later one must be renamed; prefix search still lists both.
func ambiguousLoginNameKey(key, userID string) string { return key + " " + userID }

// FinishRebuild claims every login name anew under the key the rebuild
// computed, replacing the claims made under an older form (lower case
// before login names were normalized).
func (Projection) FinishRebuild(ctx context.Context, tx *database.Tx) error {
	return eventstore.ReplaceUnique(ctx, tx, uniqueLoginName, `SELECT instance_id, '' AS scope, login_name_lower AS value FROM users`)
}

// flatten lists the scalar leaves of decoded JSON by JSON pointer, with
// strings as they are and other scalars as JSON.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			k = strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			flatten(prefix+"/"+k, child, out)
		}
	case []any:
		for i, child := range x {
			flatten(fmt.Sprintf("%s/%d", prefix, i), child, out)
		}
	case string:
		out[prefix] = x
	case nil:
	default:
		b, _ := json.Marshal(x)
		out[prefix] = string(b)
	}
}

// traitKeys are the columns of a user that user_traits repeats so that a
// trait filter reads its matches in page order, within an organization too.
type traitKeys struct {
	org     string // org_id, which never changes
	login   string // login_name_lower
	created int64
}

// searchFields returns the pointers user_traits holds for users of the
// type schemaID.
func searchFields(ctx context.Context, tx *database.Tx, instanceID, schemaID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT pointer FROM user_search_fields WHERE instance_id = $1 AND schema_id = $2 ORDER BY pointer`, instanceID, schemaID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// maxIndexedValue is the longest trait value search indexes, in bytes;
// longer values are not found.
const maxIndexedValue = 512

// indexTraits inserts the user_traits rows of the fields pointers (sorted)
// that traits holds.
func indexTraits(ctx context.Context, tx *database.Tx, instanceID, userID string, traits []byte, pointers []string, keys traitKeys) error {
	if len(pointers) == 0 {
		return nil
	}
	var doc any
	if err := json.Unmarshal(traits, &doc); err != nil {
		return fmt.Errorf("traits of %s: %w", userID, err)
	}
	leaves := map[string]string{}
	flatten("", doc, leaves)
	for _, p := range pointers {
		v, ok := leaves[p]
		if !ok || len(v) > maxIndexedValue {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_traits (instance_id, user_id, pointer, value, org_id, login_name_lower, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (instance_id, user_id, pointer) DO UPDATE SET value = excluded.value`,
			instanceID, userID, p, v, keys.org, keys.login, keys.created); err != nil {
			return err
		}
	}
	return nil
}

// writeTraits replaces a user's user_traits rows.
func writeTraits(ctx context.Context, tx *database.Tx, instanceID, userID, schemaID string, traits json.RawMessage, keys traitKeys) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_traits WHERE instance_id = $1 AND user_id = $2`, instanceID, userID); err != nil {
		return err
	}
	pointers, err := searchFields(ctx, tx, instanceID, schemaID)
	if err != nil {
		return err
	}
	return indexTraits(ctx, tx, instanceID, userID, traits, pointers, keys)
}

// reduceTypeRevision follows a user type's new revision: the fields it
// marks "search" are indexed for every user of the type that was written
// before they were, and the fields it no longer marks are dropped.
func reduceTypeRevision(ctx context.Context, tx *database.Tx, instanceID, schemaID string, document []byte) error {
	schema, err := userschema.CompileStored(schemaID, 0, document)
	if err != nil {
		return fmt.Errorf("user type %s: %w", schemaID, err)
	}
	if err := countSearchChange(ctx, tx, instanceID); err != nil {
		return err
	}
	next := schema.SearchFields()
	prev, err := searchFields(ctx, tx, instanceID, schemaID)
	if err != nil {
		return err
	}
	for _, p := range prev {
		if slices.Contains(next, p) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_search_fields WHERE instance_id = $1 AND schema_id = $2 AND pointer = $3`, instanceID, schemaID, p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_traits WHERE instance_id = $1 AND pointer = $2
AND user_id IN (SELECT id FROM users WHERE instance_id = $1 AND schema_id = $3)`, instanceID, p, schemaID); err != nil {
			return err
		}
	}
	var added []string
	for _, p := range next {
		if slices.Contains(prev, p) {
			continue
		}
		added = append(added, p)
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_search_fields (instance_id, schema_id, pointer) VALUES ($1, $2, $3)`, instanceID, schemaID, p); err != nil {
			return err
		}
	}
	if len(added) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, traits, org_id, login_name_lower, created_at FROM users WHERE instance_id = $1 AND schema_id = $2`, instanceID, schemaID)
	if err != nil {
		return err
	}
	type pending struct {
		id, traits string
		keys       traitKeys
	}
	var users []pending
	for rows.Next() {
		var u pending
		if err := rows.Scan(&u.id, &u.traits, &u.keys.org, &u.keys.login, &u.keys.created); err != nil {
			rows.Close()
			return err
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range users {
		if err := indexTraits(ctx, tx, instanceID, u.id, []byte(u.traits), added, u.keys); err != nil {
			return err
		}
	}
	return nil
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a, at := e.Aggregate, e.CreatedAt.UnixMicro()
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	switch p := e.Payload.(type) {
	case *org.Deactivated, *org.Reactivated: // an organization's event: a.ID is the organization
		_, active := e.Payload.(*org.Reactivated)
		return exec(`UPDATE users SET org_active = $1 WHERE instance_id = $2 AND org_id = $3`, active, a.InstanceID, a.ID)
	case *usertype.Created: // a user type's events: a.ID is the type
		return reduceTypeRevision(ctx, tx, a.InstanceID, a.ID, p.Document)
	case *usertype.Updated:
		return reduceTypeRevision(ctx, tx, a.InstanceID, a.ID, p.Document)
	}
	if _, ok := e.Payload.(*Added); !ok {
		if err := exec(`UPDATE users SET sequence = $1, changed_at = $2 WHERE instance_id = $3 AND id = $4`, e.Sequence, at, a.InstanceID, a.ID); err != nil {
			return err
		}
	}
	set := func(assignments string, args ...any) error {
		n := len(args)
		return exec(`UPDATE users SET `+assignments+fmt.Sprintf(` WHERE instance_id = $%d AND id = $%d`, n+1, n+2), append(args, a.InstanceID, a.ID)...)
	}
	// An initial user becomes active with a password or a proven email.
	activateInitial := func() error {
		return exec(`UPDATE users SET state = $1 WHERE instance_id = $2 AND id = $3 AND state = $4`, string(StateActive), a.InstanceID, a.ID, string(StateInitial))
	}
	switch p := e.Payload.(type) {
	case *Added:
		traits := p.Traits
		if len(traits) == 0 {
			traits = json.RawMessage(`{}`)
		}
		state := StateActive
		if p.Initial {
			state = StateInitial
		}
		insert := func(key string) (sql.Result, error) {
			return tx.ExecContext(ctx, `INSERT INTO users (instance_id, id, org_id, schema_id, schema_type, schema_revision, login_name, login_name_lower, traits,
	email, email_lower, email_verified, phone, phone_verified, state, password_hash, password_change_required, created_at, changed_at, sequence)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, '', $16, $17, $17, $18)
ON CONFLICT (instance_id, login_name_lower) DO NOTHING`,
				a.InstanceID, a.ID, a.Owner, p.SchemaID, p.SchemaType, p.SchemaRevision, p.LoginName, key, string(traits),
				p.Email, strings.ToLower(p.Email), p.EmailVerified, p.Phone, p.PhoneVerified, string(state), false, at, e.Sequence)
		}
		key := LoginNameKey(p.LoginName)
		res, err := insert(key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			key = ambiguousLoginNameKey(key, a.ID)
			if _, err := insert(key); err != nil {
				return err
			}
		}
		return writeTraits(ctx, tx, a.InstanceID, a.ID, p.SchemaID, traits, traitKeys{org: a.Owner, login: key, created: at})
	case *TraitsUpdated:
		if err := set(`traits = $1, schema_revision = $2`, string(p.Traits), p.SchemaRevision); err != nil {
			return err
		}
		var schemaID string
		var keys traitKeys
		if err := tx.QueryRowContext(ctx, `SELECT schema_id, org_id, login_name_lower, created_at FROM users WHERE instance_id = $1 AND id = $2`, a.InstanceID, a.ID).
			Scan(&schemaID, &keys.org, &keys.login, &keys.created); err != nil {
			return err
		}
		return writeTraits(ctx, tx, a.InstanceID, a.ID, schemaID, p.Traits, keys)
	case *EmailChanged:
		return set(`email = $1, email_lower = $2, email_verified = $3`, p.Email, strings.ToLower(p.Email), p.Verified)
	case *PhoneChanged:
		return set(`phone = $1, phone_verified = $2`, p.Phone, p.Verified)
	case *LoginNameChanged:
		key := LoginNameKey(p.LoginName)
		var other int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE instance_id = $1 AND login_name_lower = $2 AND id <> $3`, a.InstanceID, key, a.ID).Scan(&other)
		if err == nil {
			key = ambiguousLoginNameKey(key, a.ID)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := exec(`UPDATE user_traits SET login_name_lower = $1 WHERE instance_id = $2 AND user_id = $3`, key, a.InstanceID, a.ID); err != nil {
			return err
		}
		return set(`login_name = $1, login_name_lower = $2`, p.LoginName, key)
	case *credential.PasswordSet:
		if err := activateInitial(); err != nil {
			return err
		}
		return set(`password_hash = $1, password_change_required = $2`, p.Hash, p.ChangeRequired)
	case *Locked:
		return set(`state = $1`, string(StateLocked))
	case *credential.PasswordLocked, *credential.OTPLocked:
		return exec(`UPDATE users SET state = $1 WHERE instance_id = $2 AND id = $3 AND state = $4`,
			string(StateLocked), a.InstanceID, a.ID, string(StateActive))
	case *Unlocked, *Reactivated:
		return set(`state = $1`, string(StateActive))
	case *Deactivated:
		return set(`state = $1`, string(StateInactive))
	case *Deleted:
		for _, table := range []string{"user_metadata", "user_traits"} {
			if err := exec(`DELETE FROM `+table+` WHERE instance_id = $1 AND user_id = $2`, a.InstanceID, a.ID); err != nil {
				return err
			}
		}
		return exec(`DELETE FROM users WHERE instance_id = $1 AND id = $2`, a.InstanceID, a.ID)
	case *credential.ContactVerified:
		// A proof of an address the user no longer has proves nothing.
		if p.Channel == credential.ChannelPhone {
			return exec(`UPDATE users SET phone_verified = $1 WHERE instance_id = $2 AND id = $3 AND phone = $4`,
				true, a.InstanceID, a.ID, p.Value)
		}
		var current string
		if err := tx.QueryRowContext(ctx, `SELECT email FROM users WHERE instance_id = $1 AND id = $2`, a.InstanceID, a.ID).Scan(&current); err != nil {
			return err
		}
		if current != p.Value {
			return nil
		}
		if err := activateInitial(); err != nil {
			return err
		}
		return set(`email_verified = $1`, true)
	case *MetadataSet:
		return exec(`INSERT INTO user_metadata (instance_id, user_id, key, value) VALUES ($1, $2, $3, $4)
ON CONFLICT (instance_id, user_id, key) DO UPDATE SET value = excluded.value`, a.InstanceID, a.ID, p.Key, p.Value)
	case *MetadataRemoved:
		return exec(`DELETE FROM user_metadata WHERE instance_id = $1 AND user_id = $2 AND key = $3`, a.InstanceID, a.ID, p.Key)
	}
	return fmt.Errorf("unexpected payload %T", e.Payload)
}
