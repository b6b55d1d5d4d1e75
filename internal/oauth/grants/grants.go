package grants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
)

// TokenPrefix starts every refresh token.
const TokenPrefix = "crt_"

// Grant is what a user authorized a client to hold.
type Grant struct {
	ID, InstanceID, ClientID string
	UserID, OrgID, SessionID string
	Scopes                   []string
	AuthTime                 time.Time
	AMR                      []string
	ExpiresAt                time.Time
	// Resources are the resource servers (RFC 8707) the grant's access
	// tokens are for; none for the client's project.
	Resources []string
	// DPoPJKT is the thumbprint of the DPoP key its refresh tokens are
	// bound to (RFC 9449 section 5, public clients); "" for none.
	DPoPJKT string
	// Cnf binds the grant's refresh tokens to a certificate (RFC 8705
	// section 3) or key: a public client refreshes only with it; nil for
	// none.
	Cnf *oauth.Confirmation
}

// Spec is a grant to issue.
type Spec struct {
	Grant
	AuthRequestID string
	AccessTokenID string
	// Refresh asks for a first refresh token; Lifetime bounds the grant,
	// Idle each refresh token.
	Refresh        bool
	Lifetime, Idle time.Duration
}

// Errors of Refresh.
var (
	// ErrInvalid: unknown, expired, revoked, or another client's.
	ErrInvalid = errors.New("grants: the refresh token is invalid, expired or revoked")
	// ErrReused: the token was used before; the grant is now revoked.
	ErrReused = errors.New("grants: the refresh token was used before; its grant is revoked")
	// ErrKeyMismatch: the grant's refresh tokens are bound to a DPoP key
	// the request did not prove; the token is not spent.
	ErrKeyMismatch = errors.New("grants: the refresh token is bound to another DPoP key")
)

// Grants issues grants and rotates their refresh tokens. One Grants
// serves a whole server (its rotations commit together).
type Grants struct {
	store     *eventstore.Store
	now       func() time.Time
	rotations database.GroupCommit
}

// New returns the service; now may be nil (time.Now).
func New(store *eventstore.Store, now func() time.Time) *Grants {
	if now == nil {
		now = time.Now
	}
	return &Grants{store: store, now: now}
}

func newToken() (string, string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	t := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return t, hashToken(t), nil
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// NewID returns the id of a grant to issue.
func NewID() string { return id.New() }

// Issue records a grant (s.ID set by the caller, NewID) and returns its
// first refresh token when s.Refresh, else "".
func (g *Grants) Issue(ctx context.Context, editor eventstore.Editor, s Spec) (string, error) {
	now := g.now()
	ev := &Issued{ClientID: s.ClientID, UserID: s.UserID, SessionID: s.SessionID, AuthRequestID: s.AuthRequestID, Scopes: s.Scopes,
		AuthTime: s.AuthTime.UTC(), AMR: s.AMR, AccessTokenID: s.AccessTokenID, ExpiresAt: now.Add(s.Lifetime).UTC().Truncate(time.Second),
		Resources: s.Resources, DPoPJKT: s.DPoPJKT, Cnf: s.Cnf}
	var token string
	if s.Refresh {
		var err error
		if token, ev.RefreshTokenHash, err = newToken(); err != nil {
			return "", err
		}
		ev.RefreshExpiresAt = minTime(now.Add(s.Idle), ev.ExpiresAt).UTC().Truncate(time.Second)
	}
	_, err := g.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: s.InstanceID, Type: AggregateType, ID: s.ID, Owner: s.OrgID},
		ExpectedSequence: eventstore.NewAggregate,
		Events:           []eventstore.Payload{ev},
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

const grantColumns = `g.grant_id, g.client_id, g.user_id, g.org_id, g.session_id, g.scope, g.auth_time, g.amr, g.expires_at, g.revoked, g.resources,
	g.dpop_jkt, g.cnf`

func scanGrant(instanceID string, sc interface{ Scan(...any) error }, extra ...any) (Grant, bool, error) {
	gr := Grant{InstanceID: instanceID}
	var scope, amr, resources, cnf string
	var authTime, expires int64
	var revoked bool
	err := sc.Scan(append([]any{&gr.ID, &gr.ClientID, &gr.UserID, &gr.OrgID, &gr.SessionID, &scope, &authTime, &amr, &expires, &revoked, &resources, &gr.DPoPJKT, &cnf}, extra...)...)
	if err != nil {
		return Grant{}, false, err
	}
	if cnf != "" {
		gr.Cnf = new(oauth.Confirmation)
		if err := json.Unmarshal([]byte(cnf), gr.Cnf); err != nil {
			return Grant{}, false, fmt.Errorf("grants: cnf of %s: %w", gr.ID, err)
		}
	}
	gr.Scopes, gr.AMR, gr.Resources = strings.Fields(scope), strings.Fields(amr), strings.Fields(resources)
	gr.AuthTime, gr.ExpiresAt = time.Unix(authTime, 0).UTC(), time.Unix(expires, 0).UTC()
	return gr, revoked, nil
}

// Refresh rotates a refresh token of the client clientID: the token is
// marked used and a new one of the same grant returned, valid for idle
// (never beyond the grant). A token used before is ErrReused, and its
// grant is revoked; anything else wrong is ErrInvalid.
//
// Concurrent refreshes commit together (rotate.go): a rotation is a few
// rows, and its cost is the commit's flush to disk.
func (g *Grants) Refresh(ctx context.Context, instanceID, clientID, token string, idle time.Duration) (Grant, string, error) {
	return g.RefreshBound(ctx, instanceID, clientID, token, idle, "")
}

// RefreshBound is Refresh by a request that proved the DPoP key of
// thumbprint jkt ("" for none): the token of a grant bound to a key is
// refused with ErrKeyMismatch, unspent, unless jkt is that key.
func (g *Grants) RefreshBound(ctx context.Context, instanceID, clientID, token string, idle time.Duration, jkt string) (Grant, string, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 100 {
		return Grant{}, "", ErrInvalid
	}
	next, nextHash, err := newToken()
	if err != nil {
		return Grant{}, "", err
	}
	r := &rotation{instanceID: instanceID, clientID: clientID, tokenHash: hashToken(token), nextHash: nextHash, idle: idle, now: g.now(), jkt: jkt}
	gr, err := g.use(ctx, r)
	if err != nil {
		return Grant{}, "", err
	}
	return gr, next, nil
}

// Renew is RefreshBound without rotation, for clients whose tokens are
// sender-constrained (FAPI 2.0 recommends against rotating theirs: a
// lost response would strand the client): the same refresh token stays
// valid, its idle window restarted (never beyond the grant), and no new
// one is issued. The checks are RefreshBound's; a token spent by an
// earlier rotation is still ErrReused and revokes its grant.
func (g *Grants) Renew(ctx context.Context, instanceID, clientID, token string, idle time.Duration, jkt string) (Grant, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 100 {
		return Grant{}, ErrInvalid
	}
	return g.use(ctx, &rotation{instanceID: instanceID, clientID: clientID, tokenHash: hashToken(token), idle: idle, now: g.now(), jkt: jkt, keep: true})
}

// use applies r (a rotation or a renewal) and revokes the grant of a
// reused token.
func (g *Grants) use(ctx context.Context, r *rotation) (Grant, error) {
	clientID := r.clientID
	db := g.store.DB()
	st, err := prepareRotation(ctx, db)
	if err == nil {
		err = g.rotations.Run(ctx, db, func(ctx context.Context, tx *database.Tx) error { return r.apply(ctx, tx, st) })
	}
	if err != nil {
		return Grant{}, fmt.Errorf("grants: refresh: %w", err)
	}
	if r.outErr == ErrReused {
		// A conflict is a concurrent reuse that revoked the grant first.
		if err := g.revoke(ctx, eventstore.Editor{ClientID: clientID}, r.gr, "reuse", &ReuseDetected{ClientID: clientID}); err != nil && !errors.Is(err, eventstore.ErrConcurrentModification) {
			return Grant{}, err
		}
	}
	if r.outErr != nil {
		return Grant{}, r.outErr
	}
	return r.gr, nil
}

// The statements of a rotation, prepared once (database.DB.Prepared).
const (
	selectRotation = `SELECT ` + grantColumns + `, t.expires_at, t.used_at
FROM refresh_tokens t JOIN oauth_grants g ON g.instance_id = t.instance_id AND g.grant_id = t.grant_id
WHERE t.instance_id = $1 AND t.token_hash = $2`
	spendToken  = `UPDATE refresh_tokens SET used_at = $1 WHERE instance_id = $2 AND token_hash = $3 AND used_at = 0`
	insertToken = `INSERT INTO refresh_tokens (instance_id, token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`
	renewToken  = `UPDATE refresh_tokens SET expires_at = $1 WHERE instance_id = $2 AND token_hash = $3 AND used_at = 0`
)

// rotationStmts are the prepared statements of rotations.
type rotationStmts struct{ sel, spend, insert, renew *sql.Stmt }

func prepareRotation(ctx context.Context, db *database.DB) (rotationStmts, error) {
	var s rotationStmts
	var err error
	if s.sel, err = db.Prepared(ctx, selectRotation); err != nil {
		return s, err
	}
	if s.spend, err = db.Prepared(ctx, spendToken); err != nil {
		return s, err
	}
	if s.insert, err = db.Prepared(ctx, insertToken); err != nil {
		return s, err
	}
	s.renew, err = db.Prepared(ctx, renewToken)
	return s, err
}

// apply runs one rotation in tx: the outcome for the client in r.outErr,
// a failure of the database as the error.
func (r *rotation) apply(ctx context.Context, tx *database.Tx, st rotationStmts) error {
	var expires, used int64
	got, revoked, err := scanGrant(r.instanceID, tx.StmtContext(ctx, st.sel).QueryRowContext(ctx, r.instanceID, r.tokenHash), &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		r.outErr = ErrInvalid
		return nil
	}
	if err != nil {
		return err
	}
	r.gr = got
	switch {
	case revoked || got.ClientID != r.clientID || !r.now.Before(got.ExpiresAt):
		r.outErr = ErrInvalid
		return nil
	case used != 0:
		r.outErr = ErrReused
		return nil
	case !r.now.Before(time.Unix(expires, 0)):
		r.outErr = ErrInvalid
		return nil
	case got.DPoPJKT != "" && subtle.ConstantTimeCompare([]byte(got.DPoPJKT), []byte(r.jkt)) != 1:
		r.outErr = ErrKeyMismatch
		return nil
	}
	if r.keep {
		_, err := tx.StmtContext(ctx, st.renew).ExecContext(ctx, minTime(r.now.Add(r.idle), r.gr.ExpiresAt).Unix(), r.instanceID, r.tokenHash)
		return err
	}
	won, err := database.OneRow(tx.StmtContext(ctx, st.spend).ExecContext(ctx, r.now.Unix(), r.instanceID, r.tokenHash))
	if err != nil {
		return err
	}
	if !won {
		r.outErr = ErrReused
		return nil
	}
	_, err = tx.StmtContext(ctx, st.insert).ExecContext(ctx, r.instanceID, r.nextHash, r.gr.ID, r.now.Unix(), minTime(r.now.Add(r.idle), r.gr.ExpiresAt).Unix())
	return err
}

// ByRefreshToken returns the live grant of an unused, unexpired refresh
// token, or ErrInvalid.
func (g *Grants) ByRefreshToken(ctx context.Context, instanceID, token string) (Grant, time.Time, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 100 {
		return Grant{}, time.Time{}, ErrInvalid
	}
	var expires, used int64
	gr, revoked, err := scanGrant(instanceID, g.store.DB().Reader().QueryRowContext(ctx, `SELECT `+grantColumns+`, t.expires_at, t.used_at
FROM refresh_tokens t JOIN oauth_grants g ON g.instance_id = t.instance_id AND g.grant_id = t.grant_id
WHERE t.instance_id = $1 AND t.token_hash = $2`, instanceID, hashToken(token)), &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, time.Time{}, ErrInvalid
	}
	if err != nil {
		return Grant{}, time.Time{}, fmt.Errorf("grants: %w", err)
	}
	now := g.now()
	exp := time.Unix(expires, 0).UTC()
	if revoked || used != 0 || !now.Before(exp) || !now.Before(gr.ExpiresAt) {
		return Grant{}, time.Time{}, ErrInvalid
	}
	return gr, exp, nil
}

// Get returns a grant, revoked or not, with whether it is revoked.
func (g *Grants) Get(ctx context.Context, instanceID, grantID string) (Grant, bool, error) {
	gr, revoked, err := scanGrant(instanceID, g.store.DB().Reader().QueryRowContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants g
WHERE g.instance_id = $1 AND g.grant_id = $2`, instanceID, grantID))
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, false, failure.NotFound("grant %.64q not found", grantID)
	}
	if err != nil {
		return Grant{}, false, fmt.Errorf("grants: %w", err)
	}
	return gr, revoked, nil
}

// Revoke ends a grant for reason; revoking a revoked or unknown grant
// changes nothing.
func (g *Grants) Revoke(ctx context.Context, editor eventstore.Editor, instanceID, grantID, reason string) error {
	gr, revoked, err := g.Get(ctx, instanceID, grantID)
	if failure.Is(err, failure.KindNotFound) || err == nil && revoked {
		return nil
	}
	if err != nil {
		return err
	}
	return g.revoke(ctx, editor, gr, reason)
}

func (g *Grants) revoke(ctx context.Context, editor eventstore.Editor, gr Grant, reason string, before ...eventstore.Payload) error {
	_, err := g.store.Push(ctx, editor, eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: gr.InstanceID, Type: AggregateType, ID: gr.ID, Owner: gr.OrgID},
		ExpectedSequence: eventstore.AnySequence,
		Events:           append(before, &Revoked{Reason: reason}),
	})
	return err
}

// RevokeSession ends every live grant made with a session (its user
// signed out) and returns them.
func (g *Grants) RevokeSession(ctx context.Context, editor eventstore.Editor, instanceID, sessionID string) ([]Grant, error) {
	rows, err := g.store.DB().Reader().QueryContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants g
WHERE g.instance_id = $1 AND g.session_id = $2 AND NOT g.revoked`, instanceID, sessionID)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	var list []Grant
	for rows.Next() {
		gr, _, err := scanGrant(instanceID, rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, gr)
	}
	rows.Close()
	for _, gr := range list {
		if err := g.revoke(ctx, editor, gr, "logout"); err != nil {
			return nil, err
		}
	}
	return list, rows.Err()
}

// RevokeUserClient ends every live grant of a user to a client (the user
// revoked its consent).
func (g *Grants) RevokeUserClient(ctx context.Context, editor eventstore.Editor, instanceID, userID, clientID string) error {
	rows, err := g.store.DB().Reader().QueryContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants g
WHERE g.instance_id = $1 AND g.user_id = $2 AND g.client_id = $3 AND NOT g.revoked`, instanceID, userID, clientID)
	if err != nil {
		return fmt.Errorf("grants: %w", err)
	}
	var list []Grant
	for rows.Next() {
		gr, _, err := scanGrant(instanceID, rows)
		if err != nil {
			rows.Close()
			return err
		}
		list = append(list, gr)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, gr := range list {
		if err := g.revoke(ctx, editor, gr, "consent_revoked"); err != nil && !errors.Is(err, eventstore.ErrConcurrentModification) {
			return err
		}
	}
	return nil
}

// Sweep deletes expired refresh tokens and grants.
func (g *Grants) Sweep(ctx context.Context) error {
	now := g.now().Unix()
	return g.store.DB().InTx(ctx, func(tx *database.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM oauth_grants WHERE expires_at < $1`, now)
		return err
	})
}

// RevokeClient ends every live grant of a client for reason (its type
// changed between public and confidential) and returns how many it ended.
func (g *Grants) RevokeClient(ctx context.Context, editor eventstore.Editor, instanceID, clientID, reason string) (int, error) {
	rows, err := g.store.DB().Reader().QueryContext(ctx, `SELECT `+grantColumns+` FROM oauth_grants g
WHERE g.instance_id = $1 AND g.client_id = $2 AND NOT g.revoked`, instanceID, clientID)
	if err != nil {
		return 0, fmt.Errorf("grants: %w", err)
	}
	var list []Grant
	for rows.Next() {
		gr, _, err := scanGrant(instanceID, rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, gr)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, gr := range list {
		if err := g.revoke(ctx, editor, gr, reason); err != nil && !errors.Is(err, eventstore.ErrConcurrentModification) {
			return 0, err
		}
	}
	return len(list), nil
}
