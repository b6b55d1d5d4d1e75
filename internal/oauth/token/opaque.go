package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
)

// Opaque access tokens: for an application that registered them, an
// access token is "cat_" and 256 random bits, which tells nothing to whoever
// holds it; its claims are a row of opaque_tokens, keyed by the token's
// SHA-256, until it expires. A resource server introspects it (RFC 7662).
// The trade against a JWT: one write per token issued and one read per
// check, for tokens that reveal nothing and end at once when revoked.

// OpaquePrefix starts every opaque access token.
const OpaquePrefix = "cat_"

// OpaqueMigrations create the table of opaque access tokens.
var OpaqueMigrations = []database.Migration{{
	Name: "token/0002_opaque_tokens",
	SQLite: `CREATE TABLE opaque_tokens (instance_id TEXT NOT NULL, token_hash TEXT NOT NULL, claims TEXT NOT NULL, expires_at INTEGER NOT NULL,
	PRIMARY KEY (instance_id, token_hash));
CREATE INDEX opaque_tokens_expiry ON opaque_tokens (expires_at);`,
	Postgres: `CREATE TABLE opaque_tokens (instance_id TEXT NOT NULL, token_hash TEXT NOT NULL, claims TEXT NOT NULL, expires_at BIGINT NOT NULL,
	PRIMARY KEY (instance_id, token_hash));
CREATE INDEX opaque_tokens_expiry ON opaque_tokens (expires_at);`,
}}

func hashOpaque(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// insertOpaque stores an opaque token, prepared once.
const insertOpaque = `INSERT INTO opaque_tokens (instance_id, token_hash, claims, expires_at) VALUES ($1, $2, $3, $4)`

// IssueOpaque issues an opaque access token with the claims a JWT would
// carry, stored until it expires.
func (t *Tokens) IssueOpaque(ctx context.Context, instanceID string, a Access) (string, AccessClaims, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", AccessClaims{}, err
	}
	raw := OpaquePrefix + base64.RawURLEncoding.EncodeToString(b)
	c := a.claims(t.now())
	doc, err := jsonMarshal(c)
	if err != nil {
		return "", AccessClaims{}, err
	}
	// Concurrent grants commit together (database.GroupCommit): a token is
	// one row, and its cost is the commit's flush to disk.
	db := t.store.DB()
	insert, err := db.Prepared(ctx, insertOpaque)
	if err == nil {
		err = t.commits.Run(ctx, db, func(ctx context.Context, tx *database.Tx) error {
			_, err := tx.StmtContext(ctx, insert).ExecContext(ctx, instanceID, hashOpaque(raw), doc, c.Expiry)
			return err
		})
	}
	if err != nil {
		return "", AccessClaims{}, fmt.Errorf("token: opaque: %w", err)
	}
	return raw, c, nil
}

// verifyOpaque checks an opaque access token: stored, for issuer, not
// expired, not revoked.
func (t *Tokens) verifyOpaque(ctx context.Context, instanceID, issuer, raw string) (AccessClaims, error) {
	if len(raw) > 100 {
		return AccessClaims{}, inactive("too long")
	}
	var doc string
	err := t.store.DB().Reader().QueryRowContext(ctx, `SELECT claims FROM opaque_tokens WHERE instance_id = $1 AND token_hash = $2`,
		instanceID, hashOpaque(raw)).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return AccessClaims{}, inactive("unknown opaque token")
	}
	if err != nil {
		return AccessClaims{}, fmt.Errorf("token: opaque: %w", err)
	}
	c, err := jsonUnmarshalClaims(doc)
	if err != nil {
		return AccessClaims{}, err
	}
	if c.Issuer != issuer {
		return AccessClaims{}, inactive("issuer %q", c.Issuer)
	}
	return t.checkLive(ctx, instanceID, c)
}

// Access token formats.
const (
	FormatJWT    = "jwt"
	FormatOpaque = "opaque"
)

// IssueAccess issues an access token in format: FormatOpaque, or a JWT
// for anything else.
func (t *Tokens) IssueAccess(ctx context.Context, instanceID, format string, a Access) (string, AccessClaims, error) {
	if format == FormatOpaque {
		return t.IssueOpaque(ctx, instanceID, a)
	}
	return t.IssueJWT(ctx, instanceID, a)
}

// VerifyAccess checks an access token of either format: opaque (by its
// prefix) or JWT (VerifyJWT). Any failure wraps ErrInactive, except a
// failure to read the database.
func (t *Tokens) VerifyAccess(ctx context.Context, instanceID, issuer, raw string) (AccessClaims, error) {
	if strings.HasPrefix(raw, OpaquePrefix) {
		return t.verifyOpaque(ctx, instanceID, issuer, raw)
	}
	return t.VerifyJWT(ctx, instanceID, issuer, raw)
}

// SweepOpaque deletes expired opaque tokens.
func SweepOpaque(ctx context.Context, db *database.DB, now time.Time) error {
	return db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM opaque_tokens WHERE expires_at < $1`, now.Unix())
		return err
	})
}

func jsonMarshal(c AccessClaims) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

func jsonUnmarshalClaims(doc string) (AccessClaims, error) {
	var c AccessClaims
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return AccessClaims{}, fmt.Errorf("token: opaque claims: %w", err)
	}
	return c, nil
}
