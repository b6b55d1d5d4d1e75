package credential

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"strings"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
)

// Purpose is what a code is for; it decides the words of its message, not
// how it is checked.
type Purpose string

// The purposes of codes.
const (
	// PurposeVerify: a contact code, proving an address (SendContactCode).
	PurposeVerify Purpose = "verify"
	// PurposeSignIn: a sign-in code (SendSignInCode).
	PurposeSignIn Purpose = "sign_in"
	// PurposePasswordReset: a contact code sent for the recovery of a
	// forgotten password; the caller that recovers sets it.
	PurposePasswordReset Purpose = "password_reset"
)

// OutgoingCode is a code to deliver: to To, the email address or phone
// number (Channel) of user UserID of instance InstanceID.
type OutgoingCode struct {
	InstanceID string
	UserID     string
	Purpose    Purpose
	Channel    string
	To         string
	Code       string
}

// CodeSender delivers a code through the notification providers of the
// code's instance, in the user's language (package mail composes the
// message, package notify delivers it; the caller wires them). Delivery
// problems, a missing provider included, are failure.Unavailable.
type CodeSender func(ctx context.Context, c OutgoingCode) error

func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

func codeAD(user eventstore.Aggregate, channel string) []byte {
	return []byte("castellan/contact-code/" + user.InstanceID + "/" + user.ID + "/" + channel)
}

func validChannel(channel string) error {
	if channel != ChannelEmail && channel != ChannelPhone {
		return failure.InvalidArgument("channel", "email or phone")
	}
	return nil
}

// SendContactCode sends a fresh six-digit code to to, the user's current
// email address or phone number (channel), replacing any earlier code.
// At most Policy.CodeSends codes go to one channel within CodeWindow.
func (c *Commands) SendContactCode(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, channel, to string, keys *keyring.Ring, send CodeSender) error {
	if err := validChannel(channel); err != nil {
		return err
	}
	if to == "" {
		return failure.FailedPrecondition("user %s has no %s", user.ID, channel)
	}
	m, pol, err := c.loadUnderPolicy(ctx, user)
	if err != nil {
		return err
	}
	lifetime := pol.EmailCodeLifetime
	if channel == ChannelPhone {
		lifetime = pol.PhoneCodeLifetime
	}
	return c.issueCode(ctx, editor, user, m, pol, issue{history: channel, what: channel + " codes", ad: codeAD(user, channel),
		code: OutgoingCode{Purpose: PurposeVerify, Channel: channel, To: to},
		record: func(sealed []byte) eventstore.Payload {
			return &ContactCodeAdded{Channel: channel, To: to, Code: sealed, ExpiresAt: c.now().Add(lifetime).UTC()}
		}}, keys, send)
}

// issue describes a code to send: the history its sends count in, what
// the limit's message calls such codes, the associated data it is sealed
// with, the message (without the code), and the event that records it.
type issue struct {
	history, what string
	ad            []byte
	code          OutgoingCode
	record        func(sealed []byte) eventstore.Payload
}

// issueCode sends a fresh six-digit code of the user, under the policy's
// limit of Policy.CodeSends per CodeWindow in its history: the code,
// sealed with keys, is recorded first (on the user's events as m read
// them), then sent.
func (c *Commands) issueCode(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, m *model, pol Policy, is issue, keys *keyring.Ring, send CodeSender) error {
	if h := m.historyOf(is.history); pol.CodeSends > 0 && countSince(h.sent, c.now().Add(-pol.CodeWindow)) >= pol.CodeSends {
		return failure.ResourceExhausted("%d %s were sent within %s; wait before asking for another", pol.CodeSends, is.what, pol.CodeWindow)
	}
	code, err := newCode()
	if err != nil {
		return err
	}
	sealed, err := keys.Encrypt([]byte(code), is.ad)
	if err != nil {
		return err
	}
	if _, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence, Events: []eventstore.Payload{is.record(sealed)}}); err != nil {
		return err
	}
	out := is.code
	out.InstanceID, out.UserID, out.Code = user.InstanceID, user.ID, code
	return send(ctx, out)
}

// VerifyContact checks a code the user entered for current, its email
// address or phone number now: a code sent to an address the user no longer
// has proves nothing. A wrong code counts against the code's attempts and
// against the channel's within CodeWindow; after too many, or after
// expiry, a new code must be sent.
func (c *Commands) VerifyContact(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, channel, current, code string, keys *keyring.Ring) error {
	if err := validChannel(channel); err != nil {
		return err
	}
	m, pol, err := c.loadUnderPolicy(ctx, user)
	if err != nil {
		return err
	}
	pending := m.codes[channel]
	if pending == nil || pending.to != current || pending.failures >= pol.CodeAttempts || !c.now().Before(pending.expiresAt) {
		return failure.FailedPrecondition("no valid %s code: send a new one", channel)
	}
	if countSince(m.historyOf(channel).failed, c.now().Add(-pol.CodeWindow)) >= pol.CodeAttempts {
		return failure.ResourceExhausted("%d wrong %s codes were entered within %s; wait before trying again", pol.CodeAttempts, channel, pol.CodeWindow)
	}
	want, err := keys.Decrypt(pending.sealed, codeAD(user, channel))
	if err != nil {
		return failure.Internal(err, "open the %s code of %s", channel, user.ID)
	}
	a := eventstore.Append{Aggregate: user, ExpectedSequence: m.sequence}
	if subtle.ConstantTimeCompare(want, []byte(strings.TrimSpace(code))) != 1 {
		a.Events = []eventstore.Payload{&ContactCodeFailed{Channel: channel}}
		if _, err := c.store.Push(ctx, editor, a); err != nil {
			return err
		}
		return failure.InvalidArgument("code", "the code is wrong")
	}
	a.Events = []eventstore.Payload{&ContactVerified{Channel: channel, Value: pending.to}}
	_, err = c.store.Push(ctx, editor, a)
	return err
}
