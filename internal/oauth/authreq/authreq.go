package authreq

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Lifetimes.
const (
	// Lifetime is how long a user has to sign in.
	Lifetime = 30 * time.Minute
	// CodeLifetime is how long a code may be redeemed (RFC 6749 section
	// 4.1.2 recommends at most 10 minutes).
	CodeLifetime = time.Minute
	// keepRedeemed is how long a redeemed code is remembered, so that a
	// replay revokes what it issued.
	keepRedeemed = 10 * time.Minute
)

// PushedLifetime is how long a pushed request waits for its
// authorization request (RFC 9126 section 2.2: short).
const PushedLifetime = 90 * time.Second

// RequestURIPrefix starts the request_uri of a pushed request.
const RequestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// CodePrefix starts every authorization code.
const CodePrefix = "cac_"

// Request is an authorization request.
type Request struct {
	ID         string
	InstanceID string
	ClientID   string
	// RedirectURI is the checked URI the response goes to; Issuer is sent
	// with it (RFC 9207).
	RedirectURI string
	Issuer      string
	Scopes      []string
	State       string
	Nonce       string
	// CodeChallenge is the PKCE S256 challenge (RFC 7636), "" for none.
	CodeChallenge string
	// Prompt lists the prompt values (none, login, consent,
	// select_account).
	Prompt []string
	// MaxAge is the max_age in seconds, -1 when not given.
	MaxAge    int64
	LoginHint string
	UILocales string
	// Resources are the resource servers the tokens are for (RFC 8707),
	// each an API application's resource URI (checked by the
	// authorization endpoint); none for the client's project.
	Resources []string
	// DPoPJKT is the thumbprint of the DPoP key the code is bound to
	// (dpop_jkt, RFC 9449 section 10): its redemption must prove that
	// key. "" for none.
	DPoPJKT   string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Set by Finish.
	Grant
}

// Grant is what the login established: the session and its user.
type Grant struct {
	SessionID, UserID, OrgID string
	AuthTime                 time.Time
	AMR                      []string
}

// HasPrompt reports whether the request asked for prompt p.
func (r Request) HasPrompt(p string) bool {
	for _, v := range r.Prompt {
		if v == p {
			return true
		}
	}
	return false
}

// Redeemed is a code's request with what its redemption issued.
type Redeemed struct {
	Request
	Issued
}

// Issued names what a code's redemption issued, to revoke on a replay.
type Issued struct {
	AccessTokenID     string
	AccessTokenExpiry time.Time
	FamilyID          string
}

// ErrCodeReused is the error of a code redeemed before; Redeem returns it
// with the first redemption.
var ErrCodeReused = errors.New("authreq: the code was redeemed before")

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

func random(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

func hashCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// Create stores a checked request and returns it with its id.
func (s *Requests) Create(ctx context.Context, r Request) (Request, error) {
	return s.create(ctx, r, false)
}

// CreatePushed stores a checked request pushed by its client (RFC 9126), which
// then sends the browser with RequestURIPrefix + the id as request_uri,
// within PushedLifetime; Claim takes it.
func (s *Requests) CreatePushed(ctx context.Context, r Request) (Request, error) {
	return s.create(ctx, r, true)
}

func (s *Requests) create(ctx context.Context, r Request, pushed bool) (Request, error) {
	var err error
	if r.ID, err = random("", 16); err != nil {
		return Request{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	r.CreatedAt, r.ExpiresAt = now, now.Add(Lifetime)
	if pushed {
		r.ExpiresAt = now.Add(PushedLifetime)
	}
	err = s.db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_requests (instance_id, id, client_id, redirect_uri, issuer, scope, state, nonce, code_challenge,
	prompt, max_age, login_hint, ui_locales, created_at, expires_at, pushed, resources, dpop_jkt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			r.InstanceID, r.ID, r.ClientID, r.RedirectURI, r.Issuer, strings.Join(r.Scopes, " "), r.State, r.Nonce, r.CodeChallenge,
			strings.Join(r.Prompt, " "), r.MaxAge, r.LoginHint, r.UILocales, r.CreatedAt.Unix(), r.ExpiresAt.Unix(), pushed, strings.Join(r.Resources, " "),
			r.DPoPJKT)
		return err
	})
	if err != nil {
		return Request{}, fmt.Errorf("authreq: create: %w", err)
	}
	return r, nil
}

// Claim takes the pushed request of requestURI for the client clientID,
// once: it becomes a pending request with the lifetime of one. Anything
// else — unknown, expired, claimed before, another client's — is
// failure.NotFound.
func (s *Requests) Claim(ctx context.Context, instanceID, clientID, requestURI string) (Request, error) {
	id, ok := strings.CutPrefix(requestURI, RequestURIPrefix)
	if !ok || id == "" || len(id) > 64 {
		return Request{}, errNotFound()
	}
	now := s.now()
	var out Request
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		var pushed bool
		var clientOf string
		var expires int64
		err := tx.QueryRowContext(ctx, `SELECT pushed, client_id, expires_at FROM auth_requests WHERE instance_id = $1 AND id = $2`, instanceID, id).
			Scan(&pushed, &clientOf, &expires)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (!pushed || clientOf != clientID || now.Unix() >= expires) {
			return errNotFound()
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE auth_requests SET pushed = $1, expires_at = $2 WHERE instance_id = $3 AND id = $4 AND pushed`,
			false, now.Add(Lifetime).Unix(), instanceID, id)
		return onlyRow(res, err)
	})
	if err != nil {
		return Request{}, err
	}
	if out, err = s.Get(ctx, instanceID, id); err != nil {
		return Request{}, err
	}
	return out, nil
}

const columns = `id, client_id, redirect_uri, issuer, scope, state, nonce, code_challenge, prompt, max_age, login_hint, ui_locales, created_at, expires_at,
	session_id, user_id, org_id, auth_time, amr, code_hash, code_expires_at, code_used, access_jti, access_exp, family_id, pushed, resources,
	dpop_jkt`

type row struct {
	Request
	codeHash    string
	codeExpires time.Time
	used        bool
	pushed      bool
	Issued
}

func scan(instanceID string, sc interface{ Scan(...any) error }) (row, error) {
	r := row{Request: Request{InstanceID: instanceID}}
	var scope, prompt, amr, resources string
	var created, expires, authTime, codeExpires, accessExp int64
	err := sc.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &r.Issuer, &scope, &r.State, &r.Nonce, &r.CodeChallenge, &prompt, &r.MaxAge, &r.LoginHint,
		&r.UILocales, &created, &expires, &r.SessionID, &r.UserID, &r.OrgID, &authTime, &amr, &r.codeHash, &codeExpires, &r.used,
		&r.AccessTokenID, &accessExp, &r.FamilyID, &r.pushed, &resources,
		&r.DPoPJKT)
	if err != nil {
		return row{}, err
	}
	r.Scopes, r.Prompt, r.AMR, r.Resources = strings.Fields(scope), strings.Fields(prompt), strings.Fields(amr), strings.Fields(resources)
	r.CreatedAt, r.ExpiresAt = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	if authTime != 0 {
		r.AuthTime = time.Unix(authTime, 0).UTC()
	}
	r.codeExpires = time.Unix(codeExpires, 0).UTC()
	if accessExp != 0 {
		r.AccessTokenExpiry = time.Unix(accessExp, 0).UTC()
	}
	return r, nil
}

func errNotFound() error {
	return failure.NotFound("the authorization request does not exist or has expired; start again from the application")
}

// Get returns a pending request (not yet finished, not expired), or
// failure.NotFound.
func (s *Requests) Get(ctx context.Context, instanceID, id string) (Request, error) {
	if id == "" || len(id) > 64 {
		return Request{}, errNotFound()
	}
	r, err := scan(instanceID, s.db.Reader().QueryRowContext(ctx, `SELECT `+columns+` FROM auth_requests WHERE instance_id = $1 AND id = $2`, instanceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, errNotFound()
	}
	if err != nil {
		return Request{}, fmt.Errorf("authreq: get: %w", err)
	}
	if r.codeHash != "" || r.pushed || !s.now().Before(r.ExpiresAt) {
		return Request{}, errNotFound()
	}
	return r.Request, nil
}

// Finish binds a pending request to the grant of a signed-in session and
// returns the URL that sends the browser back to the client with a new
// code. A request is finished once.
func (s *Requests) Finish(ctx context.Context, instanceID, id string, g Grant) (string, error) {
	if g.SessionID == "" || g.UserID == "" {
		return "", failure.FailedPrecondition("the session has no signed-in user")
	}
	code, err := random(CodePrefix, 32)
	if err != nil {
		return "", err
	}
	var r Request
	now := s.now()
	err = s.db.InTx(ctx, func(tx *database.Tx) error {
		got, err := scan(instanceID, tx.QueryRowContext(ctx, `SELECT `+columns+` FROM auth_requests WHERE instance_id = $1 AND id = $2`, instanceID, id))
		if errors.Is(err, sql.ErrNoRows) || err == nil && (got.codeHash != "" || got.pushed || !now.Before(got.ExpiresAt)) {
			return errNotFound()
		}
		if err != nil {
			return err
		}
		r = got.Request
		codeExpires := now.Add(CodeLifetime)
		res, err := tx.ExecContext(ctx, `UPDATE auth_requests SET session_id = $1, user_id = $2, org_id = $3, auth_time = $4, amr = $5, code_hash = $6,
	code_expires_at = $7, expires_at = $8 WHERE instance_id = $9 AND id = $10 AND code_hash = '' AND NOT pushed`,
			g.SessionID, g.UserID, g.OrgID, g.AuthTime.Unix(), strings.Join(g.AMR, " "), hashCode(code), codeExpires.Unix(),
			codeExpires.Add(keepRedeemed).Unix(), instanceID, id)
		return onlyRow(res, err)
	})
	if err != nil {
		return "", err
	}
	return Callback(r, url.Values{"code": {code}}), nil
}

// Deny ends a pending request with an error for the client (RFC 6749
// section 4.1.2.1, OIDC Core section 3.1.2.6) and returns the URL that
// tells it.
func (s *Requests) Deny(ctx context.Context, instanceID, id, code, description string) (string, error) {
	r, err := s.Get(ctx, instanceID, id)
	if err != nil {
		return "", err
	}
	if err := s.db.InTx(ctx, func(tx *database.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM auth_requests WHERE instance_id = $1 AND id = $2`, instanceID, id)
		return err
	}); err != nil {
		return "", err
	}
	return ErrorCallback(r.RedirectURI, r.Issuer, r.State, code, description), nil
}

// Callback is the redirect URI of r with params, its state and the
// issuer (RFC 9207) added to the query.
func Callback(r Request, params url.Values) string {
	if r.State != "" {
		params.Set("state", r.State)
	}
	params.Set("iss", r.Issuer)
	return addQuery(r.RedirectURI, params)
}

// ErrorCallback is the redirect URI with an error response.
func ErrorCallback(redirectURI, issuer, state, code, description string) string {
	p := url.Values{"error": {code}, "iss": {issuer}}
	if description != "" {
		p.Set("error_description", description)
	}
	if state != "" {
		p.Set("state", state)
	}
	return addQuery(redirectURI, p)
}

func addQuery(uri string, params url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
		if strings.HasSuffix(uri, "?") || strings.HasSuffix(uri, "&") {
			sep = ""
		}
	}
	return uri + sep + params.Encode()
}

// ErrInvalidCode is the error of a code that is unknown, expired, or
// another client's.
var ErrInvalidCode = errors.New("authreq: the code is invalid or expired")

// Redeem marks a code redeemed by the client clientID and returns its
// request, recording issued as what the redemption issues. check runs
// before the code is spent, and its error is returned as is, leaving the
// code unspent (a wrong PKCE verifier must not burn the client's code). A
// code redeemed before is ErrCodeReused, returned with the first
// redemption so that the caller revokes it; an unknown or expired one
// ErrInvalidCode.
func (s *Requests) Redeem(ctx context.Context, instanceID, clientID, code string, check func(Request) error, issued Issued) (Redeemed, error) {
	out, err := s.redeem(ctx, instanceID, clientID, code, check, issued)
	if errors.Is(err, errConcurrentRedemption) {
		return s.redeem(ctx, instanceID, clientID, code, check, issued)
	}
	return out, err
}

func (s *Requests) redeem(ctx context.Context, instanceID, clientID, code string, check func(Request) error, issued Issued) (Redeemed, error) {
	if !strings.HasPrefix(code, CodePrefix) || len(code) > 100 {
		return Redeemed{}, ErrInvalidCode
	}
	now := s.now()
	var out Redeemed
	var outErr error
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		r, err := scan(instanceID, tx.QueryRowContext(ctx, `SELECT `+columns+` FROM auth_requests WHERE instance_id = $1 AND code_hash = $2`,
			instanceID, hashCode(code)))
		if errors.Is(err, sql.ErrNoRows) {
			outErr = ErrInvalidCode
			return nil
		}
		if err != nil {
			return err
		}
		out = Redeemed{Request: r.Request, Issued: r.Issued}
		switch {
		case r.ClientID != clientID:
			outErr = ErrInvalidCode
			return nil
		case r.used:
			outErr = ErrCodeReused
			// The replay ends the record: what it names is revoked once.
			_, err = tx.ExecContext(ctx, `DELETE FROM auth_requests WHERE instance_id = $1 AND id = $2`, instanceID, r.ID)
			return err
		case !now.Before(r.codeExpires):
			outErr = ErrInvalidCode
			return nil
		}
		if outErr = check(r.Request); outErr != nil {
			return nil
		}
		won, err := database.OneRow(tx.ExecContext(ctx, `UPDATE auth_requests SET code_used = $1, access_jti = $2, access_exp = $3, family_id = $4
WHERE instance_id = $5 AND id = $6 AND NOT code_used`, true, issued.AccessTokenID, issued.AccessTokenExpiry.Unix(), issued.FamilyID, instanceID, r.ID))
		if err != nil {
			return err
		}
		if !won {
			// A concurrent redemption spent the code first: this one is
			// its replay, which revokes what that one issued.
			return errConcurrentRedemption
		}
		out.Issued = issued
		return nil
	})
	if err != nil {
		return Redeemed{}, fmt.Errorf("authreq: redeem: %w", err)
	}
	if outErr != nil && !errors.Is(outErr, ErrCodeReused) {
		return Redeemed{}, outErr
	}
	return out, outErr
}

// Sweep deletes the requests and codes past their expiry and returns how
// many.
func (s *Requests) Sweep(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx *database.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM auth_requests WHERE expires_at < $1`, s.now().Unix())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// errConcurrentRedemption rolls back a redemption that lost the race for
// its code; Redeem then reads the winner's record as a replay.
var errConcurrentRedemption = errors.New("authreq: the code was redeemed concurrently")

// onlyRow turns an update that changed no row (another transaction got
// there first) into failure.NotFound.
func onlyRow(res sql.Result, err error) error {
	won, err := database.OneRow(res, err)
	if err == nil && !won {
		return errNotFound()
	}
	return err
}
