package credential

import (
	"context"
	"fmt"
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
