package passkey

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// CeremonyLifetime is how long a begun ceremony can be finished.
const CeremonyLifetime = 5 * time.Minute

// Migrations create webauthn_ceremonies, the challenges of begun
// ceremonies: short-lived, one-time, not events (a challenge is no fact
// worth keeping; its outcome is).
var Migrations = []database.Migration{{
	Name: "passkey/0001_webauthn_ceremonies",
	SQLite: `CREATE TABLE webauthn_ceremonies (instance_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL,
	purpose TEXT NOT NULL, data TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (instance_id, id));
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);`,
	Postgres: `CREATE TABLE webauthn_ceremonies (instance_id TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL,
	purpose TEXT NOT NULL, data TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (instance_id, id));
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);`,
}}

// The purposes of a ceremony.
const (
	purposeRegister             = "register"
	purposeRegisterPasswordless = "register.passwordless"
	purposeLogin                = "login"
	purposeLoginDiscoverable    = "login.discoverable"
)

// ceremony is a row of webauthn_ceremonies.
type ceremony struct {
	userID  string
	purpose string
	session webauthn.SessionData
	expires time.Time
}

// errCeremony is the one answer for a ceremony that cannot be finished:
// unknown, finished already, expired, or begun for another purpose or user.
func errCeremony() error {
	return failure.InvalidArgument("ceremonyId", "the ceremony is unknown, finished or expired: begin a new one")
}

// saveCeremony stores a begun ceremony under a fresh random id (128 bits,
// so that nobody can finish — or spend — another's ceremony by guessing
// its id) and deletes the instance's expired ones.
func (c *Commands) saveCeremony(ctx context.Context, instanceID, userID, purpose string, session *webauthn.SessionData) (string, error) {
	data, err := json.Marshal(session)
	if err != nil {
		return "", fmt.Errorf("passkey: encode ceremony: %w", err)
	}
	id := rand.Text()
	now := c.now()
	err = c.store.DB().InTx(ctx, func(tx *database.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE instance_id = $1 AND expires_at <= $2`, instanceID, now.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webauthn_ceremonies (instance_id, id, user_id, purpose, data, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			instanceID, id, userID, purpose, string(data), now.Add(CeremonyLifetime).UnixMicro())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("passkey: save ceremony: %w", err)
	}
	return id, nil
}

// validCeremonyID reports whether id has the form of rand.Text: 26
// characters of the base32 alphabet. Anything else is not looked up.
func validCeremonyID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// takeCeremony deletes and returns the ceremony id of one of the two
// purposes (and of userID, unless it is ""): whatever happens next, it
// cannot be finished twice. An expired ceremony is deleted too, and refused.
func (c *Commands) takeCeremony(ctx context.Context, instanceID, id, userID string, purposes [2]string) (*ceremony, error) {
	if !validCeremonyID(id) {
		return nil, errCeremony()
	}
	var cer ceremony
	var data string
	var expires int64
	err := c.store.DB().InTx(ctx, func(tx *database.Tx) error {
		return tx.QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies WHERE instance_id = $1 AND id = $2 AND (user_id = $3 OR $3 = '') AND purpose IN ($4, $5)
RETURNING user_id, purpose, data, expires_at`, instanceID, id, userID, purposes[0], purposes[1]).Scan(&cer.userID, &cer.purpose, &data, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errCeremony()
	}
	if err != nil {
		return nil, fmt.Errorf("passkey: take ceremony: %w", err)
	}
	cer.expires = time.UnixMicro(expires)
	if !c.now().Before(cer.expires) {
		return nil, errCeremony()
	}
	if err := json.Unmarshal([]byte(data), &cer.session); err != nil {
		return nil, fmt.Errorf("passkey: decode ceremony: %w", err)
	}
	return &cer, nil
}

// DeleteExpiredCeremonies deletes the ceremonies of every instance that
// expired, and returns how many: for a periodic clean-up (each Begin
// deletes its own instance's as well).
func (c *Commands) DeleteExpiredCeremonies(ctx context.Context) (int64, error) {
	var n int64
	err := c.store.DB().InTx(ctx, func(tx *database.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE expires_at <= $1`, c.now().UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("passkey: delete expired ceremonies: %w", err)
	}
	return n, nil
}
