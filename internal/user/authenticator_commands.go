package user

import (
	"context"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// The second factors of an existing user — TOTP, recovery codes, sign-in
// codes by email or SMS — asked by the user's identity. These commands
// find the user and decide what only this package knows: whether the
// user's type lists the authenticator (MayUse), whether the address a
// sign-in code goes to is verified, and whether the user may sign in at
// all; package credential checks the login policy, records and pushes.
// Removing an authenticator is never refused for the type's sake: a type
// that stopped listing one must not keep its users from dropping it.

// requireTypeAllows refuses an authenticator the user's type does not list.
// Recovery codes are no name user types list: they stand in for a lost
// second factor, so a type that lists any second factor (passkey, TOTP,
// email or SMS codes) allows them.
func (c *Commands) requireTypeAllows(ctx context.Context, u User, authenticator string) error {
	names := []string{authenticator}
	if authenticator == credential.AuthRecoveryCodes {
		names = credential.SecondFactors
	}
	for _, name := range names {
		ok, err := MayUse(ctx, c.db(), u, name)
		if err != nil || ok {
			return err
		}
	}
	return failure.FailedPrecondition("users of type %s do not use the authenticator %s", u.Type, authenticator)
}

// typed reads the user with its type, for requireTypeAllows.
func (c *Commands) typed(ctx context.Context, instanceID, userID, authenticator string) (User, error) {
	u, err := Get(ctx, c.db(), instanceID, userID, userschema.Admin)
	if err != nil {
		return User{}, err
	}
	return u, c.requireTypeAllows(ctx, u, authenticator)
}

func (h holder) verified(channel string) bool {
	if channel == credential.ChannelPhone {
		return h.phoneVerified
	}
	return h.emailVerified
}

func validSignInChannel(channel string) error {
	if channel != credential.ChannelEmail && channel != credential.ChannelPhone {
		return failure.InvalidArgument("channel", "email or phone")
	}
	return nil
}

// AddTOTP starts a TOTP registration for the user, labelled with issuer
// and its login name (see credential.Commands.AddTOTP).
func (c *Commands) AddTOTP(ctx context.Context, editor eventstore.Editor, instanceID, userID, issuer string, keys *keyring.Ring) (*credential.TOTPRegistration, error) {
	u, err := c.typed(ctx, instanceID, userID, credential.AuthTOTP)
	if err != nil {
		return nil, err
	}
	return c.creds.AddTOTP(ctx, editor, u.Aggregate(), issuer, u.LoginName, keys)
}

// VerifyTOTP activates the user's pending TOTP registration with a code
// (see credential.Commands.VerifyTOTP).
func (c *Commands) VerifyTOTP(ctx context.Context, editor eventstore.Editor, instanceID, userID, code string, keys *keyring.Ring) error {
	u, err := c.typed(ctx, instanceID, userID, credential.AuthTOTP)
	if err != nil {
		return err
	}
	return c.creds.VerifyTOTP(ctx, editor, u.Aggregate(), code, keys)
}

// RemoveTOTP removes the user's TOTP authenticator.
func (c *Commands) RemoveTOTP(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.RemoveTOTP(ctx, editor, h.aggregate)
}

// GenerateRecoveryCodes gives the user a new set of recovery codes, shown
// once (see credential.Commands.GenerateRecoveryCodes).
func (c *Commands) GenerateRecoveryCodes(ctx context.Context, editor eventstore.Editor, instanceID, userID string) ([]string, error) {
	u, err := c.typed(ctx, instanceID, userID, credential.AuthRecoveryCodes)
	if err != nil {
		return nil, err
	}
	return c.creds.GenerateRecoveryCodes(ctx, editor, u.Aggregate())
}

// RemoveRecoveryCodes removes the user's recovery codes.
func (c *Commands) RemoveRecoveryCodes(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.RemoveRecoveryCodes(ctx, editor, h.aggregate)
}

// AddSignInCodeFactor opts the user in to sign-in codes by email or SMS
// (channel "email" or "phone"), to its address of the channel, which must
// be verified.
func (c *Commands) AddSignInCodeFactor(ctx context.Context, editor eventstore.Editor, instanceID, userID, channel string) error {
	if err := validSignInChannel(channel); err != nil {
		return err
	}
	u, err := c.typed(ctx, instanceID, userID, credential.SignInCodeAuthenticator(channel))
	if err != nil {
		return err
	}
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	if h.address(channel) == "" || !h.verified(channel) {
		return failure.FailedPrecondition("the user's %s is not verified; verify it before signing in with codes sent to it", channel)
	}
	return c.creds.AddSignInCodeFactor(ctx, editor, u.Aggregate(), channel)
}

// RemoveSignInCodeFactor opts the user out of a channel's sign-in codes.
func (c *Commands) RemoveSignInCodeFactor(ctx context.Context, editor eventstore.Editor, instanceID, userID, channel string) error {
	if err := validSignInChannel(channel); err != nil {
		return err
	}
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.RemoveSignInCodeFactor(ctx, editor, h.aggregate, channel)
}

// Authenticators summarizes the user's password and second factors.
func (c *Commands) Authenticators(ctx context.Context, instanceID, userID string) (credential.Authenticators, error) {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return credential.Authenticators{}, err
	}
	return c.creds.Authenticators(ctx, h.aggregate)
}

// signingIn finds a user for a second-factor step of a sign-in: an
// unknown or inactive user gets the one answer of a wrong code.
func (c *Commands) signingIn(ctx context.Context, instanceID, userID string) (holder, error) {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return holder{}, err
	}
	if err != nil || !h.active {
		return holder{}, failure.Unauthenticated("the code is wrong")
	}
	return h, nil
}

// CheckTOTP is the TOTP step of a sign-in (see
// credential.Commands.CheckTOTP); the user must be active.
func (c *Commands) CheckTOTP(ctx context.Context, instanceID, userID, code string, keys *keyring.Ring) error {
	h, err := c.signingIn(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.CheckTOTP(ctx, h.aggregate, code, keys)
}

// CheckRecoveryCode is the recovery-code step of a sign-in (see
// credential.Commands.CheckRecoveryCode); the user must be active.
func (c *Commands) CheckRecoveryCode(ctx context.Context, instanceID, userID, code string) error {
	h, err := c.signingIn(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.CheckRecoveryCode(ctx, h.aggregate, code)
}

// SendSignInCode sends the user a sign-in code to its verified email
// address or phone number (see credential.Commands.SendSignInCode); the
// user must be active.
func (c *Commands) SendSignInCode(ctx context.Context, instanceID, userID, channel string, keys *keyring.Ring, send credential.CodeSender) error {
	if err := validSignInChannel(channel); err != nil {
		return err
	}
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	if !h.active {
		return failure.FailedPrecondition("user %s is not active", userID)
	}
	if !h.verified(channel) {
		return failure.FailedPrecondition("the user's %s is not verified", channel)
	}
	return c.creds.SendSignInCode(ctx, h.aggregate, channel, h.address(channel), keys, send)
}

// CheckSignInCode is the sign-in-code step of a sign-in (see
// credential.Commands.CheckSignInCode); the user must be active.
func (c *Commands) CheckSignInCode(ctx context.Context, instanceID, userID, channel, code string, keys *keyring.Ring) error {
	if err := validSignInChannel(channel); err != nil {
		return err
	}
	h, err := c.signingIn(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.CheckSignInCode(ctx, h.aggregate, channel, code, keys)
}
