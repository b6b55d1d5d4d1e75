package credential

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
)

// Sign-in codes are six-digit codes sent by email (AuthOTPEmail) or SMS
// (AuthOTPSMS) as a second factor, for users who opted in per channel.
// They are not the contact codes that prove an address (contact.go): those
// prove the address, these the person at a proven one, and each kind has
// its own code, limits and events.

// SignInCodeAuthenticator is the authenticator name of a channel's sign-in
// codes: AuthOTPEmail or AuthOTPSMS.
func SignInCodeAuthenticator(channel string) string {
	if channel == ChannelPhone {
		return AuthOTPSMS
	}
	return AuthOTPEmail
}

func signInCodeAD(user eventstore.Aggregate, channel string) []byte {
	return []byte("castellan/sign-in-code/" + user.InstanceID + "/" + user.ID + "/" + channel)
}

// AddSignInCodeFactor opts the user in to sign-in codes sent to its email
// address or phone (channel). The caller (package user) requires the
// address to be verified.
func (c *Commands) AddSignInCodeFactor(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, channel string) error {
	if err := validChannel(channel); err != nil {
		return err
	}
	return c.decideAndPush(ctx, editor, user, func(m *model, pol Policy) ([]eventstore.Payload, error) {
		if err := pol.requireAllowed(SignInCodeAuthenticator(channel)); err != nil {
			return nil, err
		}
		if m.signInFactors[channel] {
			return nil, failure.AlreadyExists("the user already signs in with codes by %s", channel)
		}
		return []eventstore.Payload{&SignInCodeFactorAdded{Channel: channel}}, nil
	})
}

// RemoveSignInCodeFactor opts the user out of a channel's sign-in codes;
// a code sent and not yet used is void.
func (c *Commands) RemoveSignInCodeFactor(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, channel string) error {
	if err := validChannel(channel); err != nil {
		return err
	}
	return c.decideAndPush(ctx, editor, user, func(m *model, _ Policy) ([]eventstore.Payload, error) {
		if !m.signInFactors[channel] {
			return nil, failure.FailedPrecondition("the user does not sign in with codes by %s", channel)
		}
		return []eventstore.Payload{&SignInCodeFactorRemoved{Channel: channel}}, nil
	})
}

// SendSignInCode sends a fresh six-digit sign-in code to to, the user's
// verified email address or phone number (channel), replacing any earlier
// one; it is valid for Policy.SignInCodeLifetime. At most Policy.CodeSends
// codes go to a channel within CodeWindow, counted apart from contact
// codes. The user must have opted in to the channel.
func (c *Commands) SendSignInCode(ctx context.Context, user eventstore.Aggregate, channel, to string, keys *keyring.Ring, send CodeSender) error {
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
	if !m.signInFactors[channel] {
		return failure.FailedPrecondition("the user does not sign in with codes by %s", channel)
	}
	if err := pol.requireAllowed(SignInCodeAuthenticator(channel)); err != nil {
		return err
	}
	if m.otpLocked {
		return failure.FailedPrecondition("the user is locked after too many wrong codes")
	}
	return c.issueCode(ctx, signInEditor(user), user, m, pol, issue{history: signInHistoryKey(channel), what: channel + " sign-in codes",
		ad: signInCodeAD(user, channel), code: OutgoingCode{Purpose: PurposeSignIn, Channel: channel, To: to},
		record: func(sealed []byte) eventstore.Payload {
			return &SignInCodeSent{Channel: channel, To: to, Code: sealed, ExpiresAt: c.now().Add(pol.SignInCodeLifetime).UTC()}
		}}, keys, send)
}

// CheckSignInCode is the sign-in-code step of a sign-in of the user, which
// the caller has found and knows to be active. The latest code sent to the
// channel is accepted once, before it expires and before Policy.CodeAttempts
// wrong codes. Every failure of a user who has the factor is an event
// (SignInCodeCheckFailed) and counts towards the OTP lock; every failure is
// the same failure.Unauthenticated.
func (c *Commands) CheckSignInCode(ctx context.Context, user eventstore.Aggregate, channel, code string, keys *keyring.Ring) error {
	if err := validChannel(channel); err != nil {
		return err
	}
	return c.signInCheck(ctx, user, func(m *model, pol Policy) ([]eventstore.Payload, error) {
		if !m.signInFactors[channel] || m.otpLocked || !pol.Allows(SignInCodeAuthenticator(channel)) {
			return nil, errWrongCode()
		}
		failed := func() ([]eventstore.Payload, error) {
			return failedOTP(pol, m, &SignInCodeCheckFailed{Channel: channel}), errWrongCode()
		}
		pending := m.signInCodes[channel]
		if pending == nil || pending.failures >= pol.CodeAttempts || !c.now().Before(pending.expiresAt) {
			return failed()
		}
		want, err := keys.Decrypt(pending.sealed, signInCodeAD(user, channel))
		if err != nil {
			return nil, failure.Internal(err, "open the %s sign-in code of %s", channel, user.ID)
		}
		if subtle.ConstantTimeCompare(want, []byte(strings.TrimSpace(code))) != 1 {
			return failed()
		}
		return []eventstore.Payload{&SignInCodeCheckSucceeded{Channel: channel}}, nil
	})
}
