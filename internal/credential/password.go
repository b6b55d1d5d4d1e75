package credential

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/password"
)

// Commands check and change credentials.
type Commands struct {
	store  *eventstore.Store
	hasher *password.Hasher
	policy PolicySource
	now    func() time.Time
}

// NewCommands returns the credential commands under DefaultPolicy (see
// WithPolicy).
func NewCommands(store *eventstore.Store, hasher *password.Hasher) *Commands {
	return &Commands{store: store, hasher: hasher, policy: FixedPolicy(DefaultPolicy), now: time.Now}
}

// WithPolicy returns the commands under the policies of src.
func (c *Commands) WithPolicy(src PolicySource) *Commands {
	cp := *c
	cp.policy = src
	return &cp
}

// WithClock returns the commands with another clock (tests).
func (c *Commands) WithClock(now func() time.Time) *Commands {
	cp := *c
	cp.now = now
	return &cp
}

// policyOf is the policy of the user aggregate's organization (its owner).
func (c *Commands) policyOf(ctx context.Context, user eventstore.Aggregate) (Policy, error) {
	return c.policy(ctx, user.InstanceID, user.Owner)
}

// loadUnderPolicy folds the user's credentials and reads the policy they
// are under.
func (c *Commands) loadUnderPolicy(ctx context.Context, user eventstore.Aggregate) (*model, Policy, error) {
	m, err := load(ctx, c.store, user)
	if err != nil {
		return nil, Policy{}, err
	}
	pol, err := c.policyOf(ctx, user)
	return m, pol, err
}

// NewPassword checks a new user's password against the policy of its
// organization and returns the event that stores its hash, for the append
// that creates the user.
func (c *Commands) NewPassword(ctx context.Context, instanceID, orgID, pw string, changeRequired bool) (*PasswordSet, error) {
	pol, err := c.policy(ctx, instanceID, orgID)
	if err != nil {
		return nil, err
	}
	if err := pol.CheckComplexity(pw); err != nil {
		return nil, err
	}
	hash, err := c.hasher.Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	return &PasswordSet{Hash: hash, ChangeRequired: changeRequired}, nil
}

// CheckNewPassword checks a password against the policy of an
// organization, without hashing it (an import hashes many later).
func (c *Commands) CheckNewPassword(ctx context.Context, instanceID, orgID, pw string) error {
	pol, err := c.policy(ctx, instanceID, orgID)
	if err != nil {
		return err
	}
	return pol.CheckComplexity(pw)
}

// ImportedPassword returns the event that stores a hash from another
// system, which must be of a supported kind within the cost bounds
// (password.Supported); sign-in upgrades it to argon2id.
func ImportedPassword(hash string, changeRequired bool) (*PasswordSet, error) {
	if err := password.Supported(hash); err != nil {
		return nil, failure.InvalidArgument("passwordHash", "%s", strings.TrimPrefix(err.Error(), "password: "))
	}
	return &PasswordSet{Hash: hash, ChangeRequired: changeRequired}, nil
}

// SetPassword sets a new password of the user; changeRequired makes the
// user choose another at its next sign-in (an administrator setting it).
func (c *Commands) SetPassword(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, pw string, changeRequired bool) error {
	set, err := c.NewPassword(ctx, user.InstanceID, user.Owner, pw, changeRequired)
	if err != nil {
		return err
	}
	m, err := load(ctx, c.store, user)
	if err != nil {
		return err
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence, Events: []eventstore.Payload{set}})
	return err
}

// errWrongPassword is the one answer to a failed check, so that it does
// not reveal whether the user has a password or was just locked.
func errWrongPassword() error { return failure.Unauthenticated("the login name or password is wrong") }

// ReservePasswordCheck takes a place among the password checks before a
// sign-in reads anything (password.Hasher.Reserve): a storm beyond the
// queue is refused at once. done must be called when the request ends.
func (c *Commands) ReservePasswordCheck(ctx context.Context) (context.Context, func(), error) {
	return c.hasher.Reserve(ctx)
}

// PasswordChecksFull reports whether a ReservePasswordCheck now would be
// refused (password.Hasher.Full).
func (c *Commands) PasswordChecksFull() bool { return c.hasher.Full() }

// EqualizeTiming spends the time of one password verification, for a
// sign-in whose login name matched no user, and returns the error a
// verification would: the answer must not come sooner, nor differ, than for
// a known name — also when the hasher is busy (password.ErrBusy).
func (c *Commands) EqualizeTiming(ctx context.Context, pw string) error {
	_, err := c.hasher.Verify(ctx, pw, c.hasher.TimingHash())
	return err
}

// CheckPassword is the password step of a sign-in of the user, which the
// caller has found and knows to be active. The outcome is an event; one
// wrong password too many in a row locks the user (PasswordLocked). A
// correct password whose hash has other parameters, or another algorithm
// (an imported bcrypt, scrypt or PBKDF2 hash), is re-hashed with argon2id.
// Every failure is the same failure.Unauthenticated.
func (c *Commands) CheckPassword(ctx context.Context, user eventstore.Aggregate, pw string) error {
	record, _, verdict := c.PasswordCheck(ctx, user, pw)
	if len(record.Events) > 0 {
		editor := eventstore.Editor{UserID: user.ID, ClientID: "sign-in"}
		if _, err := c.store.Push(ctx, editor, record); err != nil {
			return err
		}
	}
	return verdict
}

// PasswordCheck is CheckPassword without the push: it returns the append
// that records the outcome (empty when there is none to record), for the
// caller to store with its own events in one transaction, and the
// verdict: nil, the one failure.Unauthenticated, or an error of the
// server. A user with no events (a name that matched nobody, given as an
// aggregate of a fresh id) takes the same steps and time as one with a
// wrong password: the policy and the events are read, a hash is verified.
// read are the user's events as the check read them (ReadUser's), for the
// caller's own folds of the same request.
func (c *Commands) PasswordCheck(ctx context.Context, user eventstore.Aggregate, pw string) (record eventstore.Append, read []eventstore.Event, err error) {
	pol, err := c.policyOf(ctx, user)
	if err != nil {
		return eventstore.Append{}, nil, err
	}
	read, err = ReadUser(ctx, c.store, user)
	if err != nil {
		return eventstore.Append{}, nil, err
	}
	m, err := fold(user, read)
	if err == nil && m.passwordHash == "" {
		err = errWrongPassword()
	}
	if err != nil {
		if !failure.Is(err, failure.KindNotFound) && !failure.Is(err, failure.KindUnauthenticated) {
			return eventstore.Append{}, read, err
		}
		if err := c.EqualizeTiming(ctx, pw); err != nil {
			return eventstore.Append{}, read, err
		}
		return eventstore.Append{}, read, errWrongPassword()
	}
	ok, upgrade, err := c.hasher.VerifyAny(ctx, pw, m.passwordHash)
	if err != nil {
		return eventstore.Append{}, read, verifyError(err, user)
	}
	if !ok {
		return eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence, Events: failedPasswordCheck(pol, m)}, read, errWrongPassword()
	}
	// A success is recorded only when it ends a run of failures: every
	// sign-in is recorded by its session, and an event per sign-in on the
	// user would make each later one fold more.
	var events []eventstore.Payload
	if m.failedInARow > 0 {
		events = append(events, &PasswordCheckSucceeded{})
	}
	if upgrade {
		if hash, err := c.hasher.Hash(ctx, pw); err == nil {
			events = append(events, &PasswordSet{Hash: hash, ChangeRequired: m.changeRequired, Upgraded: true})
		}
	}
	return eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence, Events: events}, read, nil
}

// verifyError passes on a refusal the caller may retry (a busy hasher, a
// cancelled request); anything else about a stored hash is the server's.
func verifyError(err error, user eventstore.Aggregate) error {
	if errors.Is(err, password.ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return failure.Internal(err, "verify password of %s", user.ID)
}

// failedPasswordCheck returns the events of a wrong password: the failure,
// and a lock when it is one too many in a row.
func failedPasswordCheck(pol Policy, m *model) []eventstore.Payload {
	events := []eventstore.Payload{&PasswordCheckFailed{}}
	if p := pol.MaxPasswordAttempts; p > 0 && m.failedInARow+1 >= p {
		events = append(events, &PasswordLocked{})
	}
	return events
}

// ChangePassword replaces the user's password after checking the current
// one; it clears "change required". A wrong current password is a failed
// password check like one at sign-in: it counts towards the lock, so a
// stolen token cannot be used to guess the password without limit.
func (c *Commands) ChangePassword(ctx context.Context, user eventstore.Aggregate, current, next string) error {
	pol, err := c.policyOf(ctx, user)
	if err != nil {
		return err
	}
	if err := pol.CheckComplexity(next); err != nil {
		return err
	}
	m, err := load(ctx, c.store, user)
	if err != nil {
		return err
	}
	ok := false
	if m.passwordHash != "" {
		if ok, _, err = c.hasher.VerifyAny(ctx, current, m.passwordHash); err != nil {
			return verifyError(err, user)
		}
	}
	editor := eventstore.Editor{UserID: user.ID}
	if !ok {
		if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence,
			Events: failedPasswordCheck(pol, m)}); err != nil {
			return err
		}
		return failure.InvalidArgument("currentPassword", "the current password is wrong")
	}
	hash, err := c.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence,
		Events: []eventstore.Payload{&PasswordCheckSucceeded{}, &PasswordSet{Hash: hash}}})
	return err
}
