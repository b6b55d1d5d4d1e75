package credential

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Authenticators summarizes what a user can prove itself with, of what
// this package keeps: for a sign-in to know which steps it may offer, and
// for the API's listing. Passkeys are package passkey's.
type Authenticators struct {
	HasPassword            bool
	PasswordChangeRequired bool
	// PasswordSetAt is when the password was chosen.
	PasswordSetAt time.Time
	// TOTP is an active TOTP authenticator; TOTPPending a registration
	// not yet verified.
	TOTP        bool
	TOTPPending bool
	// RecoveryCodesLeft counts the recovery codes not yet used.
	RecoveryCodesLeft int
	// SignInCodeEmail and SignInCodeSMS tell the channels the user opted
	// in to for sign-in codes.
	SignInCodeEmail bool
	SignInCodeSMS   bool
}

// SecondFactor reports whether the user has a second factor of this
// package's: an active TOTP or a channel for sign-in codes (recovery codes
// only stand in for one).
func (a Authenticators) SecondFactor() bool {
	return a.TOTP || a.SignInCodeEmail || a.SignInCodeSMS
}

// Authenticators returns the user's authenticators.
func (c *Commands) Authenticators(ctx context.Context, user eventstore.Aggregate) (Authenticators, error) {
	m, err := load(ctx, c.store, user)
	if err != nil {
		return Authenticators{}, err
	}
	return m.authenticators(), nil
}

// AuthenticatorsIn returns the authenticators recorded in the events of
// user's aggregate as ReadUser returned them: a sign-in reads them once
// for this package and package passkey.
func AuthenticatorsIn(user eventstore.Aggregate, events []eventstore.Event) (Authenticators, error) {
	m, err := fold(user, events)
	if err != nil {
		return Authenticators{}, err
	}
	return m.authenticators(), nil
}

func (m *model) authenticators() Authenticators {
	return Authenticators{
		HasPassword: m.passwordHash != "", PasswordChangeRequired: m.changeRequired, PasswordSetAt: m.passwordSetAt,
		TOTP: m.totpSeed != nil, TOTPPending: m.totpPending != nil, RecoveryCodesLeft: len(m.recoveryHashes),
		SignInCodeEmail: m.signInFactors[ChannelEmail], SignInCodeSMS: m.signInFactors[ChannelPhone],
	}
}
