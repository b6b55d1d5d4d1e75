package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/pace"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
)

// TokenPrefix starts every session token, so that a leaked one is easy to
// recognise.
const TokenPrefix = "css_"

// OTP checks the one-time codes of a user (package credential).
type OTP interface {
	CheckTOTP(ctx context.Context, user eventstore.Aggregate, code string, keys *keyring.Ring) error
	CheckRecoveryCode(ctx context.Context, user eventstore.Aggregate, code string) error
	SendSignInCode(ctx context.Context, user eventstore.Aggregate, channel, to string, keys *keyring.Ring, send credential.CodeSender) error
	CheckSignInCode(ctx context.Context, user eventstore.Aggregate, channel, code string, keys *keyring.Ring) error
	CheckEmailLink(ctx context.Context, user eventstore.Aggregate, token string) error
}

// PasskeyResult is what a WebAuthn assertion proved.
type PasskeyResult struct {
	UserID       string
	UserVerified bool
	Passwordless bool
}

// Passkeys runs WebAuthn assertions (package passkey). BeginLogin with no
// user asks for a discoverable credential.
type Passkeys interface {
	BeginLogin(ctx context.Context, instanceID string, user *eventstore.Aggregate, userVerification string) (ceremonyID string, options []byte, err error)
	FinishLogin(ctx context.Context, instanceID, ceremonyID string, response []byte) (PasskeyResult, error)
}

// Intents consumes the result of a sign-in at an external identity
// provider. Brokering does not exist yet; without Intents an IdP check is
// refused.
type Intents interface {
	Consume(ctx context.Context, instanceID, intentID, token string) (userID string, err error)
}

// SettingsSource answers the settings in force for an organization.
type SettingsSource func(ctx context.Context, instanceID, orgID string) (settings.Settings, error)

// Deps are what the session commands work with. OTP, Passkeys and Intents
// may be nil: their checks are then refused as unavailable.
type Deps struct {
	Store       *eventstore.Store
	Credentials *credential.Commands
	OTP         OTP
	Passkeys    Passkeys
	Intents     Intents
	// UserFacts tells what a user has registered (its second factors) and
	// the state of its password; Administrator is the session's to find.
	// events, when not nil, are the user's aggregate as the request read
	// it already (credential.ReadUser's).
	UserFacts func(ctx context.Context, user eventstore.Aggregate, events []eventstore.Event) (Facts, error)
	Settings  SettingsSource
	Keys      *keyring.Ring
	Send      credential.CodeSender
	// Ended, when not nil, is told of each session End ended (whoever
	// asked: the user signing out, the login, an administrator), once:
	// the provider ends the grants made through it.
	Ended func(ctx context.Context, instanceID, sessionID string)
}

// Commands create, check and end sessions.
type Commands struct {
	d   Deps
	now func() time.Time
	// pace holds failed checks to the pace of known users' failures, so
	// that nobody's failure cannot be told from somebody's by its time.
	pace *pace.Pacer
}

// NewCommands returns the session commands.
func NewCommands(d Deps) *Commands {
	if d.Settings == nil {
		d.Settings = func(context.Context, string, string) (settings.Settings, error) { return settings.BuiltIn(), nil }
	}
	return &Commands{d: d, now: time.Now, pace: &pace.Pacer{}}
}

// WithClock returns the commands with another clock (tests).
func (c *Commands) WithClock(now func() time.Time) *Commands {
	cp := *c
	cp.now = now
	return &cp
}

func (c *Commands) db() *database.DB { return c.d.Store.DB() }

// UserCheck names the user: by login name (with OrgID, the
// organization whose domain completes a name without "@") or by id.
type UserCheck struct {
	LoginName, OrgID, UserID string
}

// Checks are the checks of one request, applied in this order: user,
// WebAuthn, IdP intent, password, email link, then the one-time codes. A request's
// checks hold together or not at all: the first that fails is recorded
// (CheckFailed) and the others of the request are not.
type Checks struct {
	User         *UserCheck
	Password     *string
	TOTP         *string
	OTPEmail     *string
	OTPSMS       *string
	RecoveryCode *string
	// WebAuthn is the JSON of the assertion answering the session's
	// challenge.
	WebAuthn  []byte
	IdPIntent *IntentCheck
	// EmailLink is the token of a sign-in link sent to the user's
	// verified email address (credential.SendEmailLink): a first factor,
	// where the settings allow it (settings.Login.MagicLinkAllowed).
	EmailLink *string
}

// IntentCheck names the result of a sign-in at an identity provider.
type IntentCheck struct{ ID, Token string }

// Challenges ask for something a later check answers.
type Challenges struct {
	// WebAuthn asks for an assertion; UserVerification is "required",
	// "preferred" or "discouraged".
	WebAuthn *WebAuthnChallenge
	// OTPEmail and OTPSMS send a sign-in code to the user, if it opted in.
	OTPEmail, OTPSMS bool
}

// WebAuthnChallenge asks for a WebAuthn assertion.
type WebAuthnChallenge struct{ UserVerification string }

// Answer is what challenges produced: the options of a WebAuthn
// assertion (PublicKeyCredentialRequestOptions as JSON) for the browser.
type Answer struct {
	WebAuthnOptions []byte
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// errToken is the one answer for a session that cannot be used: unknown,
// a wrong token, expired or ended.
func errToken() error {
	return failure.Unauthenticated("the session token is invalid or the session has ended")
}

// Create starts a session with checks and challenges and returns it with
// its token, shown only here. A failed check leaves a session nobody can
// use (its token is not returned), as the record of a failed sign-in.
func (c *Commands) Create(ctx context.Context, instanceID string, client Client, checks Checks, ch Challenges) (Session, string, Answer, error) {
	if err := validate(checks, ch); err != nil {
		return Session{}, "", Answer{}, err
	}
	ctx, done, err := c.Reserve(ctx, checks)
	if err != nil {
		return Session{}, "", Answer{}, err
	}
	defer done()
	inst, err := c.d.Settings(ctx, instanceID, "")
	if err != nil {
		return Session{}, "", Answer{}, err
	}
	token, err := newToken()
	if err != nil {
		return Session{}, "", Answer{}, err
	}
	m := &model{id: id.New(), instanceID: instanceID, checks: map[Factor]Check{}}
	created := &Created{TokenHash: hashToken(token), Lifetime: inst.Session.Lifetime, IdleTimeout: inst.Session.IdleTimeout, Client: client}
	r := c.request(m, client)
	r.add(created)
	s, a, err := c.run(ctx, r, checks, ch, eventstore.NewAggregate)
	if err != nil {
		return Session{}, "", Answer{}, err
	}
	return s, token, a, nil
}

// Update adds checks and challenges to a live session, presented with its
// token.
func (c *Commands) Update(ctx context.Context, instanceID, sessionID, token string, client Client, checks Checks, ch Challenges) (Session, Answer, error) {
	if err := validate(checks, ch); err != nil {
		return Session{}, Answer{}, err
	}
	ctx, done, err := c.Reserve(ctx, checks)
	if err != nil {
		return Session{}, Answer{}, err
	}
	defer done()
	m, err := c.authorized(ctx, instanceID, sessionID, token)
	if err != nil {
		return Session{}, Answer{}, err
	}
	return c.run(ctx, c.request(m, client), checks, ch, m.sequence)
}

// Reserve takes a place among the password checks for a request that
// checks a password, before it reads anything: a storm beyond the hasher's
// queue is refused at once (503), with nothing written. Create and Update
// reserve by themselves; an edge calls Reserve first to refuse before it
// authenticates its caller too (a refusal then costs neither a database
// read nor the stack that reads grow), and done must be called when the
// request ends. The place is held for the request either way.
func (c *Commands) Reserve(ctx context.Context, checks Checks) (context.Context, func(), error) {
	if checks.Password == nil {
		return ctx, func() {}, nil
	}
	return c.d.Credentials.ReservePasswordCheck(ctx)
}

// PasswordChecksFull reports whether Reserve would now refuse checks with
// a password (password.Hasher.Full).
func (c *Commands) PasswordChecksFull() bool { return c.d.Credentials.PasswordChecksFull() }

// authorized loads a live session whose token is token.
func (c *Commands) authorized(ctx context.Context, instanceID, sessionID, token string) (*model, error) {
	if sessionID == "" || !strings.HasPrefix(token, TokenPrefix) || len(token) > 100 {
		return nil, errToken()
	}
	m, err := load(ctx, c.d.Store, instanceID, sessionID)
	if failure.Is(err, failure.KindNotFound) {
		return nil, errToken()
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(m.tokenHash)) != 1 || !m.live(c.now()) {
		return nil, errToken()
	}
	return m, nil
}

// Get returns a live session presented with its token.
func (c *Commands) Get(ctx context.Context, instanceID, sessionID, token string) (Session, error) {
	m, err := c.authorized(ctx, instanceID, sessionID, token)
	if err != nil {
		return Session{}, err
	}
	return c.view(ctx, m, nil)
}

// GetByID returns a session for an administrator, live or not; an unknown
// one is failure.NotFound.
func (c *Commands) GetByID(ctx context.Context, instanceID, sessionID string) (Session, error) {
	m, err := load(ctx, c.d.Store, instanceID, sessionID)
	if err != nil {
		return Session{}, err
	}
	return c.view(ctx, m, nil)
}

// End ends a session. With a token, the token must be the session's (the
// login ending it); without, the caller has been authorized to end it.
func (c *Commands) End(ctx context.Context, editor eventstore.Editor, instanceID, sessionID, token, reason string) error {
	var m *model
	var err error
	if token != "" {
		m, err = c.authorized(ctx, instanceID, sessionID, token)
	} else {
		m, err = load(ctx, c.d.Store, instanceID, sessionID)
	}
	if err != nil {
		return err
	}
	if m.ended {
		return nil
	}
	_, err = c.d.Store.Push(ctx, editor, eventstore.Append{
		Aggregate: eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: sessionID}, ExpectedSequence: m.sequence,
		Events: []eventstore.Payload{&Ended{Reason: reason}},
	})
	if err == nil && c.d.Ended != nil {
		c.d.Ended(ctx, instanceID, sessionID)
	}
	return err
}

// OwnerOf returns the user a session is for ("" when none is proven).
func (c *Commands) OwnerOf(ctx context.Context, instanceID, sessionID string) (userID, orgID string, err error) {
	m, err := load(ctx, c.d.Store, instanceID, sessionID)
	if err != nil {
		return "", "", err
	}
	return m.userID, m.orgID, nil
}

// view is the session as the API shows it: the user only once proven.
// r, when not nil, is the request that changed it: its settings and what
// it read of the user are used again.
func (c *Commands) view(ctx context.Context, m *model, r *request) (Session, error) {
	now := c.now()
	if r == nil {
		r = c.request(m, Client{})
	}
	sett, facts, err := c.context(ctx, m, r)
	if err != nil {
		return Session{}, err
	}
	s := Session{
		ID: m.id, InstanceID: m.instanceID, LoginName: m.loginName, LoginOrgID: m.loginOrg, CreatedAt: m.created, LastActive: m.lastActive,
		ExpiresAt: m.expiresAt(), Checks: map[Factor]Check{}, Status: m.status(sett, facts, now),
	}
	if facts != nil {
		s.UserID, s.OrgID = m.userID, m.orgID
	}
	for f, ch := range m.checks {
		s.Checks[f] = ch
	}
	return s, nil
}

// context reads the settings of the session's organization and, once a
// first factor proved a known user, the facts of that user.
func (c *Commands) context(ctx context.Context, m *model, r *request) (settings.Settings, *Facts, error) {
	sett, err := r.settingsOf(ctx, m.orgID)
	if err != nil {
		return settings.Settings{}, nil, err
	}
	if !m.proven(sett.Login, c.now()) {
		// Nothing of the user shows yet, not even its organization's
		// settings: those of the organization the login named apply.
		if m.loginOrg != m.orgID {
			sett, err = r.settingsOf(ctx, m.loginOrg)
		}
		return sett, nil, err
	}
	f := &Facts{}
	if c.d.UserFacts != nil {
		// What the request read of the user is current unless it
		// recorded something on a user since.
		var read []eventstore.Event
		if len(r.users) == 0 {
			read = r.userEvents
		}
		if *f, err = c.d.UserFacts(ctx, eventstore.Aggregate{InstanceID: m.instanceID, Type: user.AggregateType, ID: m.userID, Owner: m.orgID}, read); err != nil {
			return sett, nil, err
		}
	}
	caller, err := member.LoadCaller(ctx, c.db(), m.instanceID, m.userID)
	if err != nil {
		return sett, nil, err
	}
	f.Administrator = len(caller.InstanceRoles) > 0 || len(caller.OrgRoles) > 0
	return sett, f, nil
}

// proven reports whether a first factor proved a known user.
func (m *model) proven(login settings.Login, now time.Time) bool {
	if m.userID == "" {
		return false
	}
	_, pwd := m.valid(FactorPassword, login.PasswordCheckLifetime, now)
	wa, ok := m.valid(FactorWebAuthn, login.SecondFactorCheckLifetime, now)
	_, idp := m.valid(FactorIdP, login.ExternalLoginLifetime, now)
	_, link := m.valid(FactorEmailLink, login.PasswordCheckLifetime, now)
	return pwd || ok && wa.Passwordless && wa.UserVerified || idp || link && login.MagicLinkAllowed
}

// Now is the commands' clock, for reads that filter by time.
func (c *Commands) Now() time.Time { return c.now() }

// ChangePassword sets a new password for the session's user, which a
// password check in the session proved within its lifetime: how a login
// lets a user whose password must be changed (NextChangePassword) choose
// another. The password follows the policy of the user's organization.
func (c *Commands) ChangePassword(ctx context.Context, instanceID, sessionID, token, pw string) (Session, error) {
	if pw == "" || len(pw) > maxSecret {
		return Session{}, failure.InvalidArgument("newPassword", "a password has 1 to %d bytes", maxSecret)
	}
	m, err := c.authorized(ctx, instanceID, sessionID, token)
	if err != nil {
		return Session{}, err
	}
	sett, err := c.d.Settings(ctx, instanceID, m.orgID)
	if err != nil {
		return Session{}, err
	}
	if _, ok := m.valid(FactorPassword, sett.Login.PasswordCheckLifetime, c.now()); !ok || m.userID == "" {
		return Session{}, failure.FailedPrecondition("check the user's current password in the session first (checks.password)")
	}
	u := eventstore.Aggregate{InstanceID: instanceID, Type: user.AggregateType, ID: m.userID, Owner: m.orgID}
	if err := c.d.Credentials.SetPassword(ctx, eventstore.Editor{UserID: m.userID, ClientID: "session", SessionID: m.id}, u, pw, false); err != nil {
		return Session{}, err
	}
	return c.view(ctx, m, nil)
}
