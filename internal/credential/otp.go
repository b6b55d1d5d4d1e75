package credential

import (
	"context"
	"errors"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// What the one-time codes share — TOTP, sign-in codes and recovery codes:
// the one answer to a failed check at sign-in, the lock after too many
// wrong codes in a row, and checks that decide on the current state and
// append with optimistic concurrency.

// errWrongCode is the one answer to every failed second-factor check at
// sign-in, whether the code was wrong, replayed, expired or spent, the
// factor missing or the user locked.
func errWrongCode() error { return failure.Unauthenticated("the code is wrong") }

// signInEditor is the editor of the events a sign-in check records: the
// user itself, through the sign-in.
func signInEditor(user eventstore.Aggregate) eventstore.Editor {
	return eventstore.Editor{UserID: user.ID, ClientID: "sign-in"}
}

// failedOTP returns the events of a wrong one-time code: failed, and a
// lock when it is one too many in a row (Policy.MaxOTPAttempts).
func failedOTP(pol Policy, m *model, failed eventstore.Payload) []eventstore.Payload {
	events := []eventstore.Payload{failed}
	if p := pol.MaxOTPAttempts; p > 0 && !m.otpLocked && m.otpFailedInARow+1 >= p {
		events = append(events, &OTPLocked{})
	}
	return events
}

// maxDecisionRetries bounds how often a check decides again after a
// concurrent change of the user. Each conflict means another request made
// progress, so among n concurrent requests none loses more than n-1 times;
// beyond this bound the request fails with the store's Conflict.
const maxDecisionRetries = 10

// decision chooses, from the user's credentials and policy, the events to
// append and the answer to give after they are appended.
type decision func(m *model, pol Policy) (events []eventstore.Payload, answer error)

// decideAndPush loads the user's credentials, decides and appends the
// decision's events with optimistic concurrency, deciding again on the
// new state when another change came first. So a code is accepted only
// once even by concurrent requests, and no wrong code escapes the count
// towards the lock. With no events to append, it returns the answer.
func (c *Commands) decideAndPush(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, decide decision) error {
	for attempt := 0; ; attempt++ {
		m, pol, err := c.loadUnderPolicy(ctx, user)
		if err != nil {
			return err
		}
		events, answer := decide(m, pol)
		if len(events) == 0 {
			return answer
		}
		_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence, Events: events})
		if errors.Is(err, eventstore.ErrConcurrentModification) && attempt < maxDecisionRetries {
			continue
		}
		if err != nil {
			return err
		}
		return answer
	}
}

// signInCheck runs a sign-in check: an unknown user gets the one answer of
// a wrong code too.
func (c *Commands) signInCheck(ctx context.Context, user eventstore.Aggregate, decide decision) error {
	err := c.decideAndPush(ctx, signInEditor(user), user, decide)
	if failure.Is(err, failure.KindNotFound) {
		return errWrongCode()
	}
	return err
}
