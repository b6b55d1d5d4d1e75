package credential

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Policy holds the credential rules of the users of an organization.
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
	// MaxOTPAttempts wrong one-time codes in a row — TOTP, sign-in codes
	// and recovery codes counted together — lock the user (0 disables
	// the lock). A successful second factor or an administrator's unlock
	// ends the run.
	MaxOTPAttempts int
	// SignInCodeLifetime bounds the validity of a code sent by email or
	// SMS as a sign-in factor.
	SignInCodeLifetime time.Duration
	// AllowedAuthenticators are the authenticators the users may register
	// and sign in with (AuthTOTP, AuthOTPEmail, …; the names user types
	// list); nil or empty allows all. See Policy.Allows.
	AllowedAuthenticators []string
}

// The authenticator names of a policy's AllowedAuthenticators: those user
// types list (package userschema) and the login settings allow (package
// settings). Recovery codes are not listed there: see Policy.Allows.
const (
	AuthPassword      = "password"
	AuthPasskey       = "passkey"
	AuthTOTP          = "totp"
	AuthOTPEmail      = "otp_email"
	AuthOTPSMS        = "otp_sms"
	AuthRecoveryCodes = "recovery_codes"
)

// SecondFactors are the authenticators recovery codes stand in for.
var SecondFactors = []string{AuthPasskey, AuthTOTP, AuthOTPEmail, AuthOTPSMS}

// Allows reports whether the policy lets users have (and sign in with)
// the authenticator. Recovery codes (AuthRecoveryCodes) are no name of
// their own in user types or login settings: they stand in for a lost
// second factor, so they are allowed whenever a second factor is.
func (p Policy) Allows(authenticator string) bool {
	if len(p.AllowedAuthenticators) == 0 {
		return true
	}
	if authenticator == AuthRecoveryCodes {
		return slices.ContainsFunc(SecondFactors, func(a string) bool { return slices.Contains(p.AllowedAuthenticators, a) })
	}
	return slices.Contains(p.AllowedAuthenticators, authenticator)
}

// requireAllowed refuses an authenticator the policy does not allow.
func (p Policy) requireAllowed(authenticator string) error {
	if !p.Allows(authenticator) {
		return failure.FailedPrecondition("the login policy does not allow the authenticator %s", authenticator)
	}
	return nil
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
	MaxOTPAttempts: 10, SignInCodeLifetime: 5 * time.Minute,
}

// ValidatePassword applies the limits every password has, whatever the
// policy: 8 to 1024 characters.
func ValidatePassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < 8 || len(pw) > 1024 {
		return failure.InvalidArgument("password", "a password has 8 to 1024 characters")
	}
	return nil
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
