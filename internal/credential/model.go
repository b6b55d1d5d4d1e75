package credential

import (
	"context"
	"slices"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// model is a user's credentials folded from the credential events of its
// aggregate; events of other packages on it only move the sequence.
type model struct {
	sequence       int64
	passwordHash   string
	changeRequired bool
	// passwordSetAt is when the password was chosen (Policy max age).
	passwordSetAt time.Time
	failedInARow  int
	codes         map[string]*pendingCode
	history       map[string]*codeHistory

	// totpPending is the sealed seed of a registration not yet verified,
	// totpSeed that of the active one; totpLastStep the time step of the
	// last accepted code.
	totpPending, totpSeed []byte
	totpLastStep          int64
	// otpFailedInARow counts wrong one-time codes of every kind since the
	// last success, lock or unlock; otpLocked is set by OTPLocked until an
	// unlock.
	otpFailedInARow int
	otpLocked       bool
	recoveryHashes  []string
	// signInFactors are the channels the user opted in to; signInCodes
	// the codes sent to them. Their send history is in history under
	// signInHistoryKey.
	signInFactors map[string]bool
	signInCodes   map[string]*pendingCode
	// emailLink is the latest sign-in link, until used (emaillink.go).
	emailLink *pendingLink
}

func newModel() *model {
	return &model{codes: map[string]*pendingCode{}, history: map[string]*codeHistory{},
		signInFactors: map[string]bool{}, signInCodes: map[string]*pendingCode{}}
}

// signInHistoryKey keeps the sends and failures of sign-in codes apart
// from those of contact codes of the same channel.
func signInHistoryKey(channel string) string { return "sign-in/" + channel }

type pendingCode struct {
	to        string
	sealed    []byte
	expiresAt time.Time
	failures  int
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

func (m *model) historyOf(channel string) *codeHistory {
	h := m.history[channel]
	if h == nil {
		h = &codeHistory{}
		m.history[channel] = h
	}
	return h
}

// AttemptsResetter is an event of another package on the user's aggregate
// that ends a run of wrong passwords and of wrong one-time codes, and lifts
// an OTP lock, such as an administrator's unlock (package user's Unlocked
// implements it).
type AttemptsResetter interface {
	ResetsPasswordAttempts()
}

func (m *model) apply(e *eventstore.Event) {
	m.sequence = e.Sequence
	switch p := e.Payload.(type) {
	case AttemptsResetter:
		m.failedInARow, m.otpFailedInARow, m.otpLocked = 0, 0, false
	case *PasswordSet:
		m.passwordHash, m.changeRequired, m.failedInARow = p.Hash, p.ChangeRequired, 0
		if !p.Upgraded {
			m.passwordSetAt = e.CreatedAt
		}
	case *PasswordCheckSucceeded, *PasswordLocked:
		// A lock ends the run of failures: once unlocked, the user has
		// its attempts again.
		m.failedInARow = 0
	case *PasswordCheckFailed:
		m.failedInARow++
	case *ContactCodeAdded:
		m.codes[p.Channel] = &pendingCode{to: p.To, sealed: p.Code, expiresAt: p.ExpiresAt}
		h := m.historyOf(p.Channel)
		h.sent = appendRecent(h.sent, e.CreatedAt)
	case *ContactCodeFailed:
		if c := m.codes[p.Channel]; c != nil {
			c.failures++
		}
		h := m.historyOf(p.Channel)
		h.failed = appendRecent(h.failed, e.CreatedAt)
	case *ContactVerified:
		delete(m.codes, p.Channel)
		m.historyOf(p.Channel).failed = nil
	case *TOTPAdded:
		m.totpPending = p.Seed
	case *TOTPVerified:
		m.totpSeed, m.totpPending, m.totpLastStep, m.otpFailedInARow = m.totpPending, nil, p.Step, 0
	case *TOTPRemoved:
		m.totpSeed, m.totpPending, m.totpLastStep = nil, nil, 0
	case *TOTPCheckSucceeded:
		m.totpLastStep, m.otpFailedInARow = p.Step, 0
	case *TOTPCheckFailed, *RecoveryCodeCheckFailed:
		m.otpFailedInARow++
	case *OTPLocked:
		// As with passwords, the lock ends the run: once unlocked, the
		// user has its attempts again.
		m.otpFailedInARow, m.otpLocked = 0, true
	case *RecoveryCodesGenerated:
		m.recoveryHashes = slices.Clone(p.Hashes)
	case *RecoveryCodeUsed:
		m.recoveryHashes = slices.DeleteFunc(m.recoveryHashes, func(h string) bool { return h == p.Hash })
		m.otpFailedInARow = 0
	case *RecoveryCodesRemoved:
		m.recoveryHashes = nil
	case *SignInCodeFactorAdded:
		m.signInFactors[p.Channel] = true
	case *SignInCodeFactorRemoved:
		delete(m.signInFactors, p.Channel)
		delete(m.signInCodes, p.Channel)
	case *SignInCodeSent:
		m.signInCodes[p.Channel] = &pendingCode{to: p.To, sealed: p.Code, expiresAt: p.ExpiresAt}
		h := m.historyOf(signInHistoryKey(p.Channel))
		h.sent = appendRecent(h.sent, e.CreatedAt)
	case *SignInCodeCheckSucceeded:
		delete(m.signInCodes, p.Channel)
		m.otpFailedInARow = 0
	case *SignInCodeCheckFailed:
		if c := m.signInCodes[p.Channel]; c != nil {
			c.failures++
		}
		m.otpFailedInARow++
	case *EmailLinkSent:
		m.emailLink = &pendingLink{hash: p.TokenHash, expiresAt: p.ExpiresAt}
		h := m.historyOf(emailLinkHistory)
		h.sent = appendRecent(h.sent, e.CreatedAt)
	case *EmailLinkUsed:
		m.emailLink = nil
	}
}

// load folds the credentials of the user aggregate.
func load(ctx context.Context, store *eventstore.Store, user eventstore.Aggregate) (*model, error) {
	events, err := ReadUser(ctx, store, user)
	if err != nil {
		return nil, err
	}
	return fold(user, events)
}

// ReadUser reads the events of a user's aggregate, for AuthenticatorsIn
// (and the other packages whose credentials the aggregate holds): a
// caller that needs several of them reads the events once.
func ReadUser(ctx context.Context, store *eventstore.Store, user eventstore.Aggregate) ([]eventstore.Event, error) {
	return store.Query(ctx, eventstore.Filter{InstanceID: user.InstanceID, AggregateTypes: []string{user.Type}, AggregateIDs: []string{user.ID}})
}

// fold folds the events of user's aggregate; none is failure.NotFound.
func fold(user eventstore.Aggregate, events []eventstore.Event) (*model, error) {
	m := newModel()
	for i := range events {
		m.apply(&events[i])
	}
	if m.sequence == 0 {
		return nil, failure.NotFound("user %s not found", user.ID)
	}
	return m, nil
}
