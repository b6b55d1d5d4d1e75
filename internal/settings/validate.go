package settings

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Value is the whole value of one group: a Login, Password, Lockout,
// Session, Tokens, Privacy or Branding (branding.go).
type Value interface {
	// Group is the group the value belongs to.
	Group() Group
	// Validate checks the value and returns it in its normal form, or a
	// failure.InvalidArgument naming the offending field.
	Validate() (Value, error)
}

func (Login) Group() Group    { return GroupLogin }
func (Password) Group() Group { return GroupPassword }
func (Lockout) Group() Group  { return GroupLockout }
func (Session) Group() Group  { return GroupSession }
func (Tokens) Group() Group   { return GroupTokens }
func (Privacy) Group() Group  { return GroupPrivacy }

// The bounds of the settings.
const (
	day = 24 * time.Hour
	// MaxLifetime bounds every lifetime but those of access and ID tokens.
	MaxLifetime = 365 * day
	// MaxTokenLifetime bounds access and ID tokens, which cannot be
	// revoked once issued as JWTs.
	MaxTokenLifetime = 7 * day
	// MaxPasswordAge bounds a password's expiry.
	MaxPasswordAge = 3650 * day
	// MinPasswordLength is the least minimum length (NIST SP 800-63B
	// 5.1.1.2); MaxPasswordLength the greatest.
	MinPasswordLength = 8
	MaxPasswordLength = 128
	// MaxAttempts bounds the lockout thresholds.
	MaxAttempts = 1000
	// MaxURLBytes bounds a link.
	MaxURLBytes = 2048
	// MaxLanguages bounds the allowed languages.
	MaxLanguages = 50
	// maxEmailBytes is RFC 5321's limit on a path.
	maxEmailBytes = 254
	// maxTagBytes bounds a language tag before it is parsed.
	maxTagBytes = 64
)

// firstFactors can begin a sign-in; secondFactors can follow one.
var (
	firstFactors  = []string{AuthPassword, AuthIdP}
	secondFactors = []string{AuthPasskey, AuthTOTP, AuthEmailOTP, AuthSMSOTP}
)

func between(field string, d, limit time.Duration) error {
	if d <= 0 {
		return failure.InvalidArgument(field, "must be positive")
	}
	if d > limit {
		return failure.InvalidArgument(field, "must be at most %s", days(limit))
	}
	return nil
}

func days(d time.Duration) string {
	if d%day == 0 {
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// Validate checks the login settings.
func (l Login) Validate() (Value, error) {
	const f = "login.allowedAuthenticators"
	if len(l.AllowedAuthenticators) == 0 {
		return nil, failure.InvalidArgument(f, "must allow at least one authenticator")
	}
	for i, a := range l.AllowedAuthenticators {
		if !slices.Contains(Authenticators, a) {
			return nil, failure.InvalidArgument(fmt.Sprintf("%s[%d]", f, i), "%q is not an authenticator; known are %s", a, strings.Join(Authenticators, ", "))
		}
		if slices.Index(l.AllowedAuthenticators, a) < i {
			return nil, failure.InvalidArgument(fmt.Sprintf("%s[%d]", f, i), "%q is listed twice", a)
		}
	}
	has := func(a string) bool { return slices.Contains(l.AllowedAuthenticators, a) }
	if l.PasswordlessAllowed && !has(AuthPasskey) {
		return nil, failure.InvalidArgument("login.passwordlessAllowed", "needs %q among %s", AuthPasskey, f)
	}
	if !slices.ContainsFunc(firstFactors, has) && !l.PasswordlessAllowed {
		return nil, failure.InvalidArgument(f, "must allow a way to begin a sign-in: %q, %q, or %q with login.passwordlessAllowed", AuthPassword, AuthIdP, AuthPasskey)
	}
	switch l.MFARequired {
	case MFANever:
	case MFAAdministrators, MFAEveryone:
		if !slices.ContainsFunc(secondFactors, has) {
			return nil, failure.InvalidArgument("login.mfaRequired", "%q needs a second factor among %s: one of %s", l.MFARequired, f, strings.Join(secondFactors, ", "))
		}
	default:
		return nil, failure.InvalidArgument("login.mfaRequired", "must be %q, %q or %q", MFANever, MFAAdministrators, MFAEveryone)
	}
	for _, d := range []struct {
		field string
		value time.Duration
	}{
		{"login.passwordCheckLifetime", l.PasswordCheckLifetime},
		{"login.secondFactorCheckLifetime", l.SecondFactorCheckLifetime},
		{"login.externalLoginLifetime", l.ExternalLoginLifetime},
	} {
		if err := between(d.field, d.value, MaxLifetime); err != nil {
			return nil, err
		}
	}
	l.AllowedAuthenticators = slices.Clone(l.AllowedAuthenticators)
	return l, nil
}

// Validate checks the password settings.
func (p Password) Validate() (Value, error) {
	if p.MinLength < MinPasswordLength || p.MinLength > MaxPasswordLength {
		return nil, failure.InvalidArgument("password.minLength", "must be between %d and %d", MinPasswordLength, MaxPasswordLength)
	}
	if p.MaxAge < 0 || p.MaxAge > MaxPasswordAge {
		return nil, failure.InvalidArgument("password.maxAge", "must be 0 (never) or positive and at most %s", days(MaxPasswordAge))
	}
	return p, nil
}

// Validate checks the lockout settings.
func (l Lockout) Validate() (Value, error) {
	if l.MaxPasswordAttempts < 0 || l.MaxPasswordAttempts > MaxAttempts {
		return nil, failure.InvalidArgument("lockout.maxPasswordAttempts", "must be between 0 (never lock) and %d", MaxAttempts)
	}
	if l.MaxOTPAttempts < 0 || l.MaxOTPAttempts > MaxAttempts {
		return nil, failure.InvalidArgument("lockout.maxOtpAttempts", "must be between 0 (never lock) and %d", MaxAttempts)
	}
	return l, nil
}

// Validate checks the session settings.
func (s Session) Validate() (Value, error) {
	if err := between("session.lifetime", s.Lifetime, MaxLifetime); err != nil {
		return nil, err
	}
	if err := between("session.idleTimeout", s.IdleTimeout, s.Lifetime); err != nil {
		return nil, failure.InvalidArgument("session.idleTimeout", "must be positive and at most session.lifetime")
	}
	return s, nil
}

// Validate checks the token lifetimes.
func (t Tokens) Validate() (Value, error) {
	if err := between("tokens.accessToken", t.AccessToken, MaxTokenLifetime); err != nil {
		return nil, err
	}
	if err := between("tokens.idToken", t.IDToken, MaxTokenLifetime); err != nil {
		return nil, err
	}
	if err := between("tokens.refreshToken", t.RefreshToken, MaxLifetime); err != nil {
		return nil, err
	}
	if err := between("tokens.refreshTokenIdle", t.RefreshTokenIdle, t.RefreshToken); err != nil {
		return nil, failure.InvalidArgument("tokens.refreshTokenIdle", "must be positive and at most tokens.refreshToken")
	}
	return t, nil
}

// Validate checks the privacy settings and puts the languages in their
// canonical form.
func (p Privacy) Validate() (Value, error) {
	for _, u := range []struct{ field, value string }{
		{"privacy.termsUrl", p.TermsURL}, {"privacy.privacyUrl", p.PrivacyURL}, {"privacy.helpUrl", p.HelpURL},
	} {
		if err := checkURL(u.field, u.value); err != nil {
			return nil, err
		}
	}
	if err := checkEmail("privacy.supportEmail", p.SupportEmail); err != nil {
		return nil, err
	}
	const f = "privacy.allowedLanguages"
	if len(p.AllowedLanguages) == 0 || len(p.AllowedLanguages) > MaxLanguages {
		return nil, failure.InvalidArgument(f, "must list 1 to %d languages", MaxLanguages)
	}
	langs := make([]string, len(p.AllowedLanguages))
	for i, l := range p.AllowedLanguages {
		tag, err := ParseLanguage(fmt.Sprintf("%s[%d]", f, i), l)
		if err != nil {
			return nil, err
		}
		if slices.Contains(langs[:i], tag) {
			return nil, failure.InvalidArgument(fmt.Sprintf("%s[%d]", f, i), "%q is listed twice", l)
		}
		langs[i] = tag
	}
	def, err := ParseLanguage("privacy.defaultLanguage", p.DefaultLanguage)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(langs, def) {
		return nil, failure.InvalidArgument("privacy.defaultLanguage", "%q must be one of %s", p.DefaultLanguage, f)
	}
	p.AllowedLanguages, p.DefaultLanguage = langs, def
	return p, nil
}

// ParseLanguage reads a BCP 47 language tag (RFC 5646) and returns its
// canonical form ("en-us" becomes "en-US"); field names the input in the
// error.
func ParseLanguage(field, s string) (string, error) {
	if s == "" {
		return "", failure.InvalidArgument(field, "required")
	}
	if len(s) > maxTagBytes {
		return "", failure.InvalidArgument(field, "a language tag has at most %d bytes", maxTagBytes)
	}
	tag, err := language.Parse(s)
	if err != nil || tag == language.Und {
		return "", failure.InvalidArgument(field, "%q is not a BCP 47 language tag", s)
	}
	return tag.String(), nil
}

// checkURL accepts an empty link, or an absolute https URL (http only on
// a loopback host) of at most MaxURLBytes, without credentials or spaces.
func checkURL(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxURLBytes {
		return failure.InvalidArgument(field, "a link has at most %d bytes", MaxURLBytes)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return failure.InvalidArgument(field, "a link must be text without spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return failure.InvalidArgument(field, "must be an absolute https URL")
	}
	if u.User != nil {
		return failure.InvalidArgument(field, "a link must not carry credentials")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
	}
	return failure.InvalidArgument(field, "must be an https URL (http only on a loopback host)")
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkEmail accepts an empty address or a bare address (no display name,
// no comments) of at most 254 bytes.
func checkEmail(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxEmailBytes {
		return failure.InvalidArgument(field, "an email address has at most %d bytes", maxEmailBytes)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return failure.InvalidArgument(field, "%q is not an email address like support@example.com", s)
	}
	return nil
}
