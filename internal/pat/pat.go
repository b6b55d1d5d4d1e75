package pat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
)

// Prefix starts every token, so that leaked tokens are easy to recognise
// (secret scanners) and easy to tell from JWTs.
const Prefix = "cst_"

// Added records a new token by its hash.
type Added struct {
	TokenID   string    `json:"tokenId"`
	Hash      string    `json:"hash"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Removed revokes a token.
type Removed struct {
	TokenID string `json:"tokenId"`
}

func (Added) EventType() string   { return "user.pat.added" }
func (Removed) EventType() string { return "user.pat.removed" }

// RegisterEvents adds the token events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[Removed](r, 1)
}

// Hash returns the stored form of a token.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// New generates a token for the user aggregate and returns the append that
// records it, the token id and the token (to be shown once).
func New(user eventstore.Aggregate, expiresAt, now time.Time) (eventstore.Append, string, string, error) {
	if !expiresAt.After(now) {
		return eventstore.Append{}, "", "", failure.InvalidArgument("expireTime", "must be in the future")
	}
	if expiresAt.After(now.AddDate(10, 0, 0)) {
		return eventstore.Append{}, "", "", failure.InvalidArgument("expireTime", "must be within ten years")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return eventstore.Append{}, "", "", err
	}
	token := Prefix + base64.RawURLEncoding.EncodeToString(b)
	tokenID := id.New()
	return eventstore.Append{
		Aggregate:        user,
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&Added{TokenID: tokenID, Hash: Hash(token), ExpiresAt: expiresAt.UTC().Truncate(time.Second)}},
	}, tokenID, token, nil
}

// Revoke returns the append that removes a token.
func Revoke(user eventstore.Aggregate, tokenID string) eventstore.Append {
	return eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence, Events: []eventstore.Payload{&Removed{TokenID: tokenID}}}
}

// RevokeOwned is Revoke for a token the user holds; another user's token,
// or none, is failure.NotFound.
func RevokeOwned(ctx context.Context, db *database.DB, user eventstore.Aggregate, tokenID string) (eventstore.Append, error) {
	var n int
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM personal_access_tokens WHERE instance_id = $1 AND user_id = $2 AND id = $3`,
		user.InstanceID, user.ID, tokenID).Scan(&n); err != nil {
		return eventstore.Append{}, fmt.Errorf("pat: find %s: %w", tokenID, err)
	}
	if n == 0 {
		return eventstore.Append{}, failure.NotFound("user %s has no token %s", user.ID, tokenID)
	}
	return Revoke(user, tokenID), nil
}

// Migrations create the token read model.
var Migrations = []database.Migration{{
	Name: "pat/0001_tokens",
	SQLite: `CREATE TABLE personal_access_tokens (instance_id TEXT NOT NULL, hash TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL,
	expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, hash));
CREATE UNIQUE INDEX personal_access_tokens_id ON personal_access_tokens (instance_id, id);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (instance_id, user_id);`,
	Postgres: `CREATE TABLE personal_access_tokens (instance_id TEXT NOT NULL, hash TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL,
	expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, hash));
CREATE UNIQUE INDEX personal_access_tokens_id ON personal_access_tokens (instance_id, id);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (instance_id, user_id);`,
}}

// Projection keeps personal_access_tokens.
type Projection struct{}

func (Projection) Name() string         { return "personal_access_tokens" }
func (Projection) EventTypes() []string { return eventstore.TypesOf(&Added{}, &Removed{}) }

func (Projection) Reset(ctx context.Context, tx *database.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM personal_access_tokens`)
	return err
}

func (Projection) Reduce(ctx context.Context, tx *database.Tx, e *eventstore.Event) error {
	var err error
	switch p := e.Payload.(type) {
	case *Added:
		_, err = tx.ExecContext(ctx, `INSERT INTO personal_access_tokens (instance_id, hash, id, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.Aggregate.InstanceID, p.Hash, p.TokenID, e.Aggregate.ID, p.ExpiresAt.Unix(), e.CreatedAt.Unix())
	case *Removed:
		_, err = tx.ExecContext(ctx, `DELETE FROM personal_access_tokens WHERE instance_id = $1 AND id = $2 AND user_id = $3`,
			e.Aggregate.InstanceID, p.TokenID, e.Aggregate.ID)
	default:
		err = fmt.Errorf("unexpected payload %T", e.Payload)
	}
	return err
}

// errInvalid is the one answer for every unusable token, so that the
// response does not tell an unknown token from an expired one.
func errInvalid() error { return failure.Unauthenticated("the access token is invalid or expired") }

// Authenticate returns the id of the user a token belongs to, in an
// instance. Unknown, revoked and expired tokens are failure.Unauthenticated.
func Authenticate(ctx context.Context, db *database.DB, instanceID, token string, now time.Time) (string, error) {
	a, err := AuthenticateToken(ctx, db, instanceID, token, now)
	return a.UserID, err
}

// Authenticated is what a valid token tells: its holder, its id (recorded
// as the session of the changes made with it) and when it expires (Unix
// seconds), for callers that keep the result.
type Authenticated struct {
	UserID    string
	TokenID   string
	ExpiresAt int64
}

// AuthenticateToken is Authenticate returning all a valid token tells.
func AuthenticateToken(ctx context.Context, db *database.DB, instanceID, token string, now time.Time) (Authenticated, error) {
	if !strings.HasPrefix(token, Prefix) || len(token) != len(Prefix)+43 {
		return Authenticated{}, errInvalid()
	}
	var a Authenticated
	err := db.Reader().QueryRowContext(ctx, `SELECT user_id, id, expires_at FROM personal_access_tokens WHERE instance_id = $1 AND hash = $2`,
		instanceID, Hash(token)).Scan(&a.UserID, &a.TokenID, &a.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Authenticated{}, errInvalid()
	}
	if err != nil {
		return Authenticated{}, fmt.Errorf("pat: authenticate: %w", err)
	}
	if now.Unix() >= a.ExpiresAt {
		return Authenticated{}, errInvalid()
	}
	return a, nil
}
