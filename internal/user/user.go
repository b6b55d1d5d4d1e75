package user

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// AggregateType is the event store aggregate type of users.
const AggregateType = "user"

// Added is the first event of a user.
type Added struct {
	Schema    string `json:"schema"`
	LoginName string `json:"loginName"`
	Email     string `json:"email,omitempty"`
}

func (Added) EventType() string { return "user.added" }

// PasswordSet stores a new password hash (PHC string, never the password).
type PasswordSet struct {
	Hash           string `json:"hash"`
	ChangeRequired bool   `json:"changeRequired"`
}

func (PasswordSet) EventType() string { return "user.password.set" }

// RegisterEvents adds the user events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[PasswordSet](r, 1)
}

// New describes a user to create.
type New struct {
	InstanceID, OrgID, ID string
	Schema                string
	LoginName             string
	Email                 string
	// PasswordHash, when set, is stored as the initial password.
	PasswordHash   string
	ChangeRequired bool
}

// ValidateLoginName checks a login name: 1 to 200 printable characters
// without spaces.
func ValidateLoginName(name string) error {
	if name == "" || len(name) > 200 {
		return failure.InvalidArgument("loginName", "a login name has 1 to 200 characters")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return failure.InvalidArgument("loginName", "a login name cannot contain spaces or control characters")
		}
	}
	return nil
}

// Create returns the append that creates a user.
func Create(n New) (eventstore.Append, error) {
	if err := ValidateLoginName(n.LoginName); err != nil {
		return eventstore.Append{}, err
	}
	if n.Email != "" && strings.Count(n.Email, "@") != 1 {
		return eventstore.Append{}, failure.InvalidArgument("email", "not an email address")
	}
	if n.Schema == "" {
		n.Schema = "human"
	}
	events := []eventstore.Payload{&Added{Schema: n.Schema, LoginName: n.LoginName, Email: n.Email}}
	if n.PasswordHash != "" {
		events = append(events, &PasswordSet{Hash: n.PasswordHash, ChangeRequired: n.ChangeRequired})
	}
	return eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: n.InstanceID, Type: AggregateType, ID: n.ID, Owner: n.OrgID},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           events,
		Unique:           []eventstore.Unique{{Kind: "login_name", Value: n.LoginName, Field: "loginName", FoldCase: true}},
	}, nil
}

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
}}

// Projection keeps the users table.
type Projection struct{}

func (Projection) Name() string         { return "users" }
func (Projection) EventTypes() []string { return []string{"user.added", "user.password.set"} }

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM users`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	a := e.Aggregate
	var err error
	switch p := e.Payload.(type) {
	case *Added:
		_, err = tx.ExecContext(ctx, `INSERT INTO users (instance_id, id, org_id, schema_type, login_name, login_name_lower, email, state,
	password_hash, password_change_required, created_at, sequence) VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', '', $8, $9, $10)`,
			a.InstanceID, a.ID, a.Owner, p.Schema, p.LoginName, strings.ToLower(p.LoginName), p.Email, false, e.CreatedAt.UnixMicro(), e.Sequence)
	case *PasswordSet:
		_, err = tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_change_required = $2, sequence = $3 WHERE instance_id = $4 AND id = $5`,
			p.Hash, p.ChangeRequired, e.Sequence, a.InstanceID, a.ID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}
