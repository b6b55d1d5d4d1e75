package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
)

// The credentials of an existing user, asked by the user's identity: these
// commands find the user and the facts package credential needs (its
// aggregate, its organization, its current address), and package
// credential checks, records and pushes.

// errSignIn is the one answer to every failed sign-in, so that responses do
// not reveal whether a login name exists or a user is locked.
func errSignIn() error { return failure.Unauthenticated("the login name or password is wrong") }

// holder is what the credential commands need to know of a user.
type holder struct {
	aggregate                    eventstore.Aggregate
	email, phone                 string
	emailVerified, phoneVerified bool
	// active: the user and its organization are active (Standing.Active).
	active bool
}

func (c *Commands) holder(ctx context.Context, instanceID, userID string) (holder, error) {
	h := holder{aggregate: eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: userID}}
	var state string
	var orgActive bool
	err := c.db().Reader().QueryRowContext(ctx, `SELECT org_id, email, phone, state, org_active, email_verified, phone_verified FROM users WHERE instance_id = $1 AND id = $2`, instanceID, userID).
		Scan(&h.aggregate.Owner, &h.email, &h.phone, &state, &orgActive, &h.emailVerified, &h.phoneVerified)
	if errors.Is(err, sql.ErrNoRows) {
		return holder{}, failure.NotFound("user %s not found", userID)
	}
	if err != nil {
		return holder{}, fmt.Errorf("user: %s: %w", userID, err)
	}
	h.active = State(state) == StateActive && orgActive
	return h, nil
}

// CheckPassword is the password step of a sign-in: it finds the user by
// login name, requires it and its organization to be active, and asks
// package credential whether the password holds (which records the outcome
// and locks after too many wrong ones). Every failure is the same
// failure.Unauthenticated, and an unknown or inactive user costs the time
// of a password verification too.
func (c *Commands) CheckPassword(ctx context.Context, instanceID, loginName, pw string) (string, error) {
	var userID string
	err := c.db().Reader().QueryRowContext(ctx, `SELECT id FROM users WHERE instance_id = $1 AND login_name_lower = $2`,
		instanceID, LoginNameKey(loginName)).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		if err := c.creds.EqualizeTiming(ctx, pw); err != nil {
			return "", err
		}
		return "", errSignIn()
	}
	if err != nil {
		return "", err
	}
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return "", err
	}
	if err != nil || !h.active {
		if err := c.creds.EqualizeTiming(ctx, pw); err != nil {
			return "", err
		}
		return "", errSignIn()
	}
	if err := c.creds.CheckPassword(ctx, h.aggregate, pw); err != nil {
		return "", err
	}
	return userID, nil
}

// SetPassword sets a new password; changeRequired makes the user choose
// another at its next sign-in (an administrator setting it).
func (c *Commands) SetPassword(ctx context.Context, editor eventstore.Editor, instanceID, userID, pw string, changeRequired bool) error {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.SetPassword(ctx, editor, h.aggregate, pw, changeRequired)
}

// ChangePassword replaces the user's password after checking the current
// one (see credential.Commands.ChangePassword).
func (c *Commands) ChangePassword(ctx context.Context, instanceID, userID, current, next string) error {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.ChangePassword(ctx, h.aggregate, current, next)
}

func (h holder) address(channel string) string {
	if channel == credential.ChannelPhone {
		return h.phone
	}
	return h.email
}

// SendContactCode sends a fresh code to the user's email address or phone
// number (see credential.Commands.SendContactCode).
func (c *Commands) SendContactCode(ctx context.Context, editor eventstore.Editor, instanceID, userID, channel string, keys *keyring.Ring, send credential.CodeSender) error {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.SendContactCode(ctx, editor, h.aggregate, channel, h.address(channel), keys, send)
}

// VerifyContact checks a code the user entered for its current email
// address or phone number (see credential.Commands.VerifyContact).
func (c *Commands) VerifyContact(ctx context.Context, editor eventstore.Editor, instanceID, userID, channel, code string, keys *keyring.Ring) error {
	h, err := c.holder(ctx, instanceID, userID)
	if err != nil {
		return err
	}
	return c.creds.VerifyContact(ctx, editor, h.aggregate, channel, h.address(channel), code, keys)
}
