package credential

import (
	"context"
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
	failedInARow   int
	codes          map[string]*pendingCode
	history        map[string]*codeHistory
}

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
// that ends a run of wrong passwords, such as an administrator's unlock
// (package user's Unlocked implements it).
type AttemptsResetter interface {
	ResetsPasswordAttempts()
}

func (m *model) apply(e *eventstore.Event) {
	m.sequence = e.Sequence
	switch p := e.Payload.(type) {
	case AttemptsResetter:
		m.failedInARow = 0
	case *PasswordSet:
		m.passwordHash, m.changeRequired, m.failedInARow = p.Hash, p.ChangeRequired, 0
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
	}
}

// load folds the credentials of the user aggregate.
func load(ctx context.Context, store *eventstore.Store, user eventstore.Aggregate) (*model, error) {
	events, err := store.Query(ctx, eventstore.Filter{InstanceID: user.InstanceID, AggregateTypes: []string{user.Type}, AggregateIDs: []string{user.ID}})
	if err != nil {
		return nil, err
	}
	m := &model{codes: map[string]*pendingCode{}, history: map[string]*codeHistory{}}
	for i := range events {
		m.apply(&events[i])
	}
	if m.sequence == 0 {
		return nil, failure.NotFound("user %s not found", user.ID)
	}
	return m, nil
}
