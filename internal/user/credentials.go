package user

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/org"
)

// Sign-in and contact verification: the security-relevant facts about a
// user's credentials are events (a failed password check, a lock after too
// many, a verification code sent, a wrong code entered), so every replica
// counts attempts the same way and the audit trail shows them.

// PasswordCheckSucceeded records a successful password check; it resets
// the count of failures.
type PasswordCheckSucceeded struct{}

// PasswordCheckFailed records a wrong password.
type PasswordCheckFailed struct{}

// ContactCodeAdded records a verification code sent to the email address
// or phone number. The code is sealed with the instance's key ring.
type ContactCodeAdded struct {
	Channel   string    `json:"channel"`
	To        string    `json:"to"`
	Code      []byte    `json:"code"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// ContactCodeFailed records a wrong code.
type ContactCodeFailed struct {
	Channel string `json:"channel"`
}

// ContactVerified marks the email address or phone number as proven.
type ContactVerified struct {
	Channel string `json:"channel"`
	Value   string `json:"value"`
}

func (PasswordCheckSucceeded) EventType() string { return "user.password.check.succeeded" }
func (PasswordCheckFailed) EventType() string    { return "user.password.check.failed" }
func (ContactCodeAdded) EventType() string       { return "user.contact.code.added" }
func (ContactCodeFailed) EventType() string      { return "user.contact.code.failed" }
func (ContactVerified) EventType() string        { return "user.contact.verified" }

func registerCredentialEvents(r *eventstore.Registry) {
	eventstore.Register[PasswordCheckSucceeded](r, 1)
	eventstore.Register[PasswordCheckFailed](r, 1)
	eventstore.Register[ContactCodeAdded](r, 1)
	eventstore.Register[ContactCodeFailed](r, 1)
	eventstore.Register[ContactVerified](r, 1)
}

// Contact channels.
const (
	ChannelEmail = "email"
	ChannelPhone = "phone"
)

// Policy holds the credential rules. Settings per instance and
// organization will come from the settings package; until then these
// defaults apply everywhere.
type Policy struct {
	// MinPasswordLength counts characters; MaxPasswordAttempts wrong
	// passwords in a row lock the user (0 disables the lock).
	MinPasswordLength   int
	RequireUpper        bool
	RequireLower        bool
	RequireDigit        bool
	RequireSymbol       bool
	MaxPasswordAttempts int
	// CodeAttempts wrong verification codes invalidate a code. The budget
	// is also counted across codes: CodeAttempts wrong codes for one
	// channel within CodeWindow refuse every code until the window has
	// passed, so sending a new code does not buy new guesses.
	CodeAttempts int
	// CodeSends codes may be sent per channel within CodeWindow.
	CodeSends  int
	CodeWindow time.Duration
	// EmailCodeLifetime and PhoneCodeLifetime bound a code's validity.
	EmailCodeLifetime time.Duration
	PhoneCodeLifetime time.Duration
}

// PolicySource returns the credential policy in force for the users of an
// organization. The settings package will answer from the instance's
// settings overridden by the organization's; until then FixedPolicy.
type PolicySource func(ctx context.Context, instanceID, orgID string) (Policy, error)

// FixedPolicy is a PolicySource answering p everywhere.
func FixedPolicy(p Policy) PolicySource {
	return func(context.Context, string, string) (Policy, error) { return p, nil }
}

// DefaultPolicy is the policy of every instance until settings exist.
var DefaultPolicy = Policy{
	MinPasswordLength: 8, MaxPasswordAttempts: 10, CodeAttempts: 5, CodeSends: 5, CodeWindow: time.Hour,
	EmailCodeLifetime: time.Hour, PhoneCodeLifetime: 10 * time.Minute,
}

// CheckComplexity applies the policy's complexity rules to a new password.
func (p Policy) CheckComplexity(pw string) error {
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	var upper, lower, digit, symbol bool
	n := 0
	for _, r := range pw {
		n++
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		default:
			symbol = true
		}
	}
	var missing []string
	if n < p.MinPasswordLength {
		missing = append(missing, fmt.Sprintf("at least %d characters", p.MinPasswordLength))
	}
	for _, rule := range []struct {
		need, have bool
		what       string
	}{{p.RequireUpper, upper, "an upper-case letter"}, {p.RequireLower, lower, "a lower-case letter"},
		{p.RequireDigit, digit, "a digit"}, {p.RequireSymbol, symbol, "a symbol"}} {
		if rule.need && !rule.have {
			missing = append(missing, rule.what)
		}
	}
	if len(missing) > 0 {
		return failure.InvalidArgument("password", "the password needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// credentials is the part of the write model sign-in needs.
type credentials struct {
	passwordHash   string
	failedInARow   int
	codes          map[string]*pendingCode
	history        map[string]*codeHistory
	changeRequired bool
}

// codeHistory is when codes were sent to a channel and when wrong ones
// were entered, for the limits of Policy.CodeSends and CodeAttempts. Only
// the latest entries are kept: no limit counts more.
type codeHistory struct {
	sent, failed []time.Time
}

const codeHistoryLength = 32

func appendRecent(ts []time.Time, t time.Time) []time.Time {
	ts = append(ts, t)
	if len(ts) > codeHistoryLength {
		ts = ts[len(ts)-codeHistoryLength:]
	}
	return ts
}

// countSince counts the times at or after since.
func countSince(ts []time.Time, since time.Time) int {
	n := 0
	for _, t := range ts {
		if !t.Before(since) {
			n++
		}
	}
	return n
}

func (c *credentials) historyOf(channel string) *codeHistory {
	if c.history == nil {
		c.history = map[string]*codeHistory{}
	}
	h := c.history[channel]
	if h == nil {
		h = &codeHistory{}
		c.history[channel] = h
	}
	return h
}

type pendingCode struct {
	to        string
	sealed    []byte
	expiresAt time.Time
	failures  int
}

func (m *writeModel) applyCredentials(e *eventstore.Event) {
	if m.creds.codes == nil {
		m.creds.codes = map[string]*pendingCode{}
	}
	switch p := e.Payload.(type) {
	case *PasswordSet:
		m.creds.passwordHash, m.creds.changeRequired, m.creds.failedInARow = p.Hash, p.ChangeRequired, 0
	case *PasswordCheckSucceeded, *Unlocked:
		m.creds.failedInARow = 0
	case *PasswordCheckFailed:
		m.creds.failedInARow++
	case *ContactCodeAdded:
		m.creds.codes[p.Channel] = &pendingCode{to: p.To, sealed: p.Code, expiresAt: p.ExpiresAt}
		h := m.creds.historyOf(p.Channel)
		h.sent = appendRecent(h.sent, e.CreatedAt)
	case *ContactCodeFailed:
		if c := m.creds.codes[p.Channel]; c != nil {
			c.failures++
		}
		h := m.creds.historyOf(p.Channel)
		h.failed = appendRecent(h.failed, e.CreatedAt)
	case *ContactVerified:
		delete(m.creds.codes, p.Channel)
		m.creds.historyOf(p.Channel).failed = nil
	case *EmailChanged:
		delete(m.creds.codes, ChannelEmail)
		m.creds.historyOf(ChannelEmail).failed = nil
	case *PhoneChanged:
		delete(m.creds.codes, ChannelPhone)
		m.creds.historyOf(ChannelPhone).failed = nil
	}
}

// errSignIn is the one answer to every failed sign-in, so that responses do
// not reveal whether a login name exists or a user is locked.
func errSignIn() error { return failure.Unauthenticated("the login name or password is wrong") }

// equalizer holds a hash verified when no user (or no password) matches,
// so that a sign-in for an unknown login name costs the same time as one
// for a known name.
type equalizer struct {
	once sync.Once
	hash string
}

func (c *Commands) equalizeTiming(ctx context.Context, pw string) {
	c.timing.once.Do(func() { c.timing.hash, _ = c.hasher.Hash(ctx, "castellan-timing-equalizer") })
	_, _ = c.hasher.Verify(ctx, pw, c.timing.hash)
}

// CheckPassword is the password step of a sign-in: it finds the active
// user by login name and verifies the password, recording the outcome as an
// event. Too many wrong passwords in a row lock the user. A correct
// password whose hash has other parameters, or another algorithm (an
// imported bcrypt, scrypt or PBKDF2 hash), is re-hashed with argon2id.
func (c *Commands) CheckPassword(ctx context.Context, instanceID, loginName, pw string) (string, error) {
	var userID string
	err := c.db().Reader().QueryRowContext(ctx, `SELECT id FROM users WHERE instance_id = $1 AND login_name_lower = $2`,
		instanceID, LoginNameKey(loginName)).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		c.equalizeTiming(ctx, pw)
		return "", errSignIn()
	}
	if err != nil {
		return "", err
	}
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return "", errSignIn()
	}
	if m.creds.passwordHash == "" {
		c.equalizeTiming(ctx, pw)
		return "", errSignIn()
	}
	ok, upgrade, err := c.hasher.VerifyAny(ctx, pw, m.creds.passwordHash)
	if err != nil {
		return "", failure.Internal(err, "verify password of %s", userID)
	}
	if m.State != StateActive || !c.orgActive(ctx, instanceID, m.OrgID) {
		return "", errSignIn()
	}
	pol, err := c.policy(ctx, instanceID, m.OrgID)
	if err != nil {
		return "", err
	}
	editor := eventstore.Editor{UserID: userID, ClientID: "sign-in"}
	if !ok {
		if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: eventstore.AnySequence, Events: failedPasswordCheck(pol, m)}); err != nil {
			return "", err
		}
		return "", errSignIn()
	}
	events := []eventstore.Payload{&PasswordCheckSucceeded{}}
	if upgrade {
		if hash, err := c.hasher.Hash(ctx, pw); err == nil {
			events = append(events, &PasswordSet{Hash: hash, ChangeRequired: m.creds.changeRequired})
		}
	}
	if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: eventstore.AnySequence, Events: events}); err != nil {
		return "", err
	}
	return userID, nil
}

// failedPasswordCheck returns the events of a wrong password: the failure,
// and a lock when it is one too many in a row.
func failedPasswordCheck(pol Policy, m *writeModel) []eventstore.Payload {
	events := []eventstore.Payload{&PasswordCheckFailed{}}
	if p := pol.MaxPasswordAttempts; p > 0 && m.creds.failedInARow+1 >= p && m.State == StateActive {
		events = append(events, &Locked{})
	}
	return events
}

// orgActive reports whether the user's organization is active: a
// deactivated organization suspends its users.
func (c *Commands) orgActive(ctx context.Context, instanceID, orgID string) bool {
	state, err := org.StateOf(ctx, c.db(), instanceID, orgID)
	return err == nil && state == org.StateActive
}

// ChangePassword replaces the user's password after checking the current
// one; it clears "change required".
func (c *Commands) ChangePassword(ctx context.Context, instanceID, userID, current, next string) error {
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return err
	}
	pol, err := c.policy(ctx, instanceID, m.OrgID)
	if err != nil {
		return err
	}
	if err := pol.CheckComplexity(next); err != nil {
		return err
	}
	ok := false
	if m.creds.passwordHash != "" {
		if ok, _, err = c.hasher.VerifyAny(ctx, current, m.creds.passwordHash); err != nil {
			return failure.Internal(err, "verify password of %s", userID)
		}
	}
	editor := eventstore.Editor{UserID: userID}
	if !ok {
		// A wrong current password is a failed password check like one at
		// sign-in: it counts towards the lock, so a stolen token cannot be
		// used to guess the password without limit.
		if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: eventstore.AnySequence,
			Events: failedPasswordCheck(pol, m)}); err != nil {
			return err
		}
		return failure.InvalidArgument("currentPassword", "the current password is wrong")
	}
	hash, err := c.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&PasswordCheckSucceeded{}, &PasswordSet{Hash: hash}}})
	return err
}

// CodeSender delivers a verification code to an email address or phone
// number (package notify's email and SMS notifiers, composed by the
// caller).
type CodeSender func(ctx context.Context, channel, to, code string) error

func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

func codeAD(instanceID, userID, channel string) []byte {
	return []byte("castellan/contact-code/" + instanceID + "/" + userID + "/" + channel)
}

// SendContactCode sends a fresh six-digit code to the user's email address
// or phone number, replacing any earlier one.
func (c *Commands) SendContactCode(ctx context.Context, editor eventstore.Editor, instanceID, userID, channel string, keys *keyring.Ring, send CodeSender) error {
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return err
	}
	pol, err := c.policy(ctx, instanceID, m.OrgID)
	if err != nil {
		return err
	}
	to, lifetime := m.Email, pol.EmailCodeLifetime
	switch channel {
	case ChannelEmail:
	case ChannelPhone:
		to, lifetime = m.Phone, pol.PhoneCodeLifetime
	default:
		return failure.InvalidArgument("channel", "email or phone")
	}
	if to == "" {
		return failure.FailedPrecondition("user %s has no %s", userID, channel)
	}
	if h := m.creds.historyOf(channel); pol.CodeSends > 0 && countSince(h.sent, c.now().Add(-pol.CodeWindow)) >= pol.CodeSends {
		return failure.ResourceExhausted("%d %s codes were sent within %s; wait before asking for another", pol.CodeSends, channel, pol.CodeWindow)
	}
	code, err := newCode()
	if err != nil {
		return err
	}
	sealed, err := keys.Encrypt([]byte(code), codeAD(instanceID, userID, channel))
	if err != nil {
		return err
	}
	if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence,
		Events: []eventstore.Payload{&ContactCodeAdded{Channel: channel, To: to, Code: sealed, ExpiresAt: c.now().Add(lifetime).UTC()}}}); err != nil {
		return err
	}
	return send(ctx, channel, to, code)
}

// VerifyContact checks a code the user entered. A wrong code counts
// against the code's attempts; after too many, or after expiry, a new code
// must be sent.
func (c *Commands) VerifyContact(ctx context.Context, editor eventstore.Editor, instanceID, userID, channel, code string, keys *keyring.Ring) error {
	m, err := load(ctx, c.store, instanceID, userID)
	if err != nil {
		return err
	}
	pending := m.creds.codes[channel]
	pol, err := c.policy(ctx, instanceID, m.OrgID)
	if err != nil {
		return err
	}
	if pending == nil || pending.failures >= pol.CodeAttempts || !c.now().Before(pending.expiresAt) {
		return failure.FailedPrecondition("no valid %s code: send a new one", channel)
	}
	if countSince(m.creds.historyOf(channel).failed, c.now().Add(-pol.CodeWindow)) >= pol.CodeAttempts {
		return failure.ResourceExhausted("%d wrong %s codes were entered within %s; wait before trying again", pol.CodeAttempts, channel, pol.CodeWindow)
	}
	want, err := keys.Decrypt(pending.sealed, codeAD(instanceID, userID, channel))
	if err != nil {
		return failure.Internal(err, "open the %s code of %s", channel, userID)
	}
	agg := eventstore.Append{Aggregate: m.aggregate(instanceID), ExpectedSequence: m.Sequence}
	if subtle.ConstantTimeCompare(want, []byte(strings.TrimSpace(code))) != 1 {
		agg.Events = []eventstore.Payload{&ContactCodeFailed{Channel: channel}}
		if _, err := c.store.Push(ctx, editor, agg); err != nil {
			return err
		}
		return failure.InvalidArgument("code", "the code is wrong")
	}
	agg.Events = []eventstore.Payload{&ContactVerified{Channel: channel, Value: pending.to}}
	_, err = c.store.Push(ctx, editor, agg)
	return err
}
