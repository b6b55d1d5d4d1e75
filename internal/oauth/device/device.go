// Package device keeps the device authorization requests of the device
// authorization grant (RFC 8628): a device without a browser (a CLI, a
// TV) asks for a device code and a short user code; the user enters the
// user code in the hosted login on another device, signs in and approves;
// meanwhile the device polls the token endpoint with the device code.
//
//	Start ──► pending ──► Approve (session) ──► approved ──► Redeem ──► tokens
//	             │                 └─► Deny ──► denied
//	             └─ expires after Lifetime
//
// Requests are rows of a plain table with an expiry, like authorization
// requests. The device code is 256 random bits ("cdc_…"), stored as its
// SHA-256; the user code is 8 letters of an alphabet without vowels and
// look-alikes (BCDFGHJKLMNPQRSTVWXZ: no words, no 0/O or 1/I), about 34
// bits, shown as XXXX-XXXX and compared without case, dashes or spaces.
// 34 bits are enough because a code lives Lifetime and is pending only
// once, and the login limits how fast one address may try codes.
// Polling faster than the interval is slow_down, and adds 5 s to it
// (section 3.5).
package device

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
	"github.com/castellan-iam/castellan/internal/failure"
)

// Lifetimes and pacing.
const (
	Lifetime = 10 * time.Minute
	// Interval is the polling interval a device is given; slowDown what
	// polling too fast adds to it.
	Interval = 5 * time.Second
	slowDown = 5 * time.Second
)

// CodePrefix starts every device code.
const CodePrefix = "cdc_"

const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// States of a request.
const (
	StatePending  = "pending"
	StateApproved = "approved"
	StateDenied   = "denied"
	StateRedeemed = "redeemed"
)

// Request is a device authorization request.
type Request struct {
	ID, InstanceID, ClientID string
	Scopes                   []string
	// Resources are the resource servers (RFC 8707) the tokens are for,
	// checked by the device authorization endpoint; none for the
	// client's project.
	Resources            []string
	UserCode             string
	State                string
	CreatedAt, ExpiresAt time.Time
	// Set by Approve.
	SessionID, UserID, OrgID string
	AuthTime                 time.Time
	AMR                      []string
}

// Requests stores the requests.
type Requests struct {
	db  *database.DB
	now func() time.Time
}

// New returns the store; now may be nil (time.Now).
func New(db *database.DB, now func() time.Time) *Requests {
	if now == nil {
		now = time.Now
	}
	return &Requests{db: db, now: now}
}

func hashCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

func newUserCode() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	out := make([]byte, 8)
	for i, v := range b {
		// 256 is not a multiple of 20; the bias (6 of 256) costs well
		// under a bit of the code's 34.
		out[i] = userCodeAlphabet[int(v)%len(userCodeAlphabet)]
	}
	return string(out), nil
}

// NormalizeUserCode returns a user code as stored: upper case, without
// dashes and spaces; "" when it cannot be one.
func NormalizeUserCode(s string) string {
	if len(s) > 32 {
		return ""
	}
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	if len(s) != 8 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(userCodeAlphabet, rune(s[i])) {
			return ""
		}
	}
	return s
}

// FormatUserCode shows a stored user code as XXXX-XXXX.
func FormatUserCode(s string) string {
	if len(s) != 8 {
		return s
	}
	return s[:4] + "-" + s[4:]
}

// Start stores a request of the client for scopes and resources and
// returns it with its device code.
func (s *Requests) Start(ctx context.Context, instanceID, clientID string, scopes, resources []string) (Request, string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Request{}, "", err
	}
	code := CodePrefix + base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC().Truncate(time.Second)
	r := Request{InstanceID: instanceID, ClientID: clientID, Scopes: scopes, Resources: resources, State: StatePending, CreatedAt: now, ExpiresAt: now.Add(Lifetime)}
	r.ID = hashCode(code)[:32]
	// A user code already pending in the instance is drawn again.
	for range 5 {
		userCode, err := newUserCode()
		if err != nil {
			return Request{}, "", err
		}
		err = s.db.InTx(ctx, func(tx *database.Tx) error {
			won, err := database.OneRow(tx.ExecContext(ctx, `INSERT INTO device_requests (instance_id, id, code_hash, user_code, client_id, scope, state, created_at, expires_at,
	interval_s, last_poll, resources) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11
WHERE NOT EXISTS (SELECT 1 FROM device_requests WHERE instance_id = $1 AND user_code = $4 AND state = $7 AND expires_at > $8)`,
				instanceID, r.ID, hashCode(code), userCode, clientID, strings.Join(scopes, " "), StatePending, now.Unix(), r.ExpiresAt.Unix(),
				int64(Interval.Seconds()), strings.Join(resources, " ")))
			if err == nil && !won {
				return errTaken
			}
			return err
		})
		if errors.Is(err, errTaken) {
			continue
		}
		if err != nil {
			return Request{}, "", fmt.Errorf("device: start: %w", err)
		}
		r.UserCode = userCode
		return r, code, nil
	}
	return Request{}, "", fmt.Errorf("device: no free user code after 5 draws")
}

var errTaken = errors.New("device: user code taken")

const columns = `id, client_id, scope, user_code, state, created_at, expires_at, session_id, user_id, org_id, auth_time, amr, resources`

func scan(instanceID string, sc interface{ Scan(...any) error }, extra ...any) (Request, error) {
	r := Request{InstanceID: instanceID}
	var scope, amr, resources string
	var created, expires, authTime int64
	err := sc.Scan(append([]any{&r.ID, &r.ClientID, &scope, &r.UserCode, &r.State, &created, &expires, &r.SessionID, &r.UserID, &r.OrgID, &authTime, &amr,
		&resources}, extra...)...)
	if err != nil {
		return Request{}, err
	}
	r.Scopes, r.AMR, r.Resources = strings.Fields(scope), strings.Fields(amr), strings.Fields(resources)
	r.CreatedAt, r.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	if authTime != 0 {
		r.AuthTime = time.Unix(authTime, 0).UTC()
	}
	return r, nil
}

func errUnknownCode() error {
	return failure.NotFound("the code is unknown or has expired; start again on the device")
}

// ByUserCode returns the pending request of a user code, or
// failure.NotFound.
func (s *Requests) ByUserCode(ctx context.Context, instanceID, userCode string) (Request, error) {
	code := NormalizeUserCode(userCode)
	if code == "" {
		return Request{}, errUnknownCode()
	}
	r, err := scan(instanceID, s.db.Reader().QueryRowContext(ctx, `SELECT `+columns+` FROM device_requests
WHERE instance_id = $1 AND user_code = $2 AND state = $3 AND expires_at > $4`, instanceID, code, StatePending, s.now().Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, errUnknownCode()
	}
	if err != nil {
		return Request{}, fmt.Errorf("device: %w", err)
	}
	return r, nil
}

// Grant is what the user's approval gives the device.
type Grant struct {
	SessionID, UserID, OrgID string
	AuthTime                 time.Time
	AMR                      []string
}

// Approve approves a pending request for the user of a session, once.
func (s *Requests) Approve(ctx context.Context, instanceID, id string, g Grant) error {
	return s.decide(ctx, instanceID, id, StateApproved, g)
}

// Deny refuses a pending request.
func (s *Requests) Deny(ctx context.Context, instanceID, id string) error {
	return s.decide(ctx, instanceID, id, StateDenied, Grant{})
}

func (s *Requests) decide(ctx context.Context, instanceID, id, state string, g Grant) error {
	var authTime int64
	if !g.AuthTime.IsZero() {
		authTime = g.AuthTime.Unix()
	}
	return s.db.InTx(ctx, func(tx *database.Tx) error {
		won, err := database.OneRow(tx.ExecContext(ctx, `UPDATE device_requests SET state = $1, session_id = $2, user_id = $3, org_id = $4, auth_time = $5, amr = $6
WHERE instance_id = $7 AND id = $8 AND state = $9 AND expires_at > $10`,
			state, g.SessionID, g.UserID, g.OrgID, authTime, strings.Join(g.AMR, " "), instanceID, id, StatePending, s.now().Unix()))
		if err == nil && !won {
			return errUnknownCode()
		}
		return err
	})
}

// Outcomes of a poll (RFC 8628 section 3.5).
var (
	ErrPending  = errors.New("device: authorization_pending")
	ErrSlowDown = errors.New("device: slow_down")
	ErrDenied   = errors.New("device: access_denied")
	ErrExpired  = errors.New("device: expired_token")
	ErrInvalid  = errors.New("device: invalid device code")
)

// Poll is the device's poll of its code: the approved request, taken
// once; or ErrPending, ErrSlowDown (and the interval grows), ErrDenied,
// ErrExpired, ErrInvalid (unknown, another client's, or redeemed).
func (s *Requests) Poll(ctx context.Context, instanceID, clientID, code string) (Request, error) {
	if !strings.HasPrefix(code, CodePrefix) || len(code) > 100 {
		return Request{}, ErrInvalid
	}
	now := s.now()
	var out Request
	var outErr error
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		var interval, lastPoll int64
		r, err := scan(instanceID, tx.QueryRowContext(ctx, `SELECT `+columns+`, interval_s, last_poll FROM device_requests
WHERE instance_id = $1 AND code_hash = $2`, instanceID, hashCode(code)), &interval, &lastPoll)
		if errors.Is(err, sql.ErrNoRows) {
			outErr = ErrInvalid
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case r.ClientID != clientID || r.State == StateRedeemed:
			outErr = ErrInvalid
			return nil
		case !now.Before(r.ExpiresAt):
			outErr = ErrExpired
			return nil
		case r.State == StateDenied:
			outErr = ErrDenied
			return nil
		}
		if r.State == StatePending {
			if lastPoll != 0 && now.Unix()-lastPoll < interval {
				outErr = ErrSlowDown
				interval += int64(slowDown.Seconds())
			} else {
				outErr = ErrPending
			}
			_, err = tx.ExecContext(ctx, `UPDATE device_requests SET last_poll = $1, interval_s = $2 WHERE instance_id = $3 AND id = $4`,
				now.Unix(), interval, instanceID, r.ID)
			return err
		}
		won, err := database.OneRow(tx.ExecContext(ctx, `UPDATE device_requests SET state = $1 WHERE instance_id = $2 AND id = $3 AND state = $4`,
			StateRedeemed, instanceID, r.ID, StateApproved))
		if err != nil {
			return err
		}
		if !won {
			outErr = ErrInvalid
			return nil
		}
		out = r
		return nil
	})
	if err != nil {
		return Request{}, fmt.Errorf("device: poll: %w", err)
	}
	return out, outErr
}

// Sweep deletes requests past their expiry.
func (s *Requests) Sweep(ctx context.Context) error {
	return s.db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM device_requests WHERE expires_at < $1`, s.now().Add(-time.Minute).Unix())
		return err
	})
}

// Get returns a pending request by id, or failure.NotFound.
func (s *Requests) Get(ctx context.Context, instanceID, id string) (Request, error) {
	if id == "" || len(id) > 64 {
		return Request{}, errUnknownCode()
	}
	r, err := scan(instanceID, s.db.Reader().QueryRowContext(ctx, `SELECT `+columns+` FROM device_requests
WHERE instance_id = $1 AND id = $2 AND state = $3 AND expires_at > $4`, instanceID, id, StatePending, s.now().Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, errUnknownCode()
	}
	if err != nil {
		return Request{}, fmt.Errorf("device: %w", err)
	}
	return r, nil
}
