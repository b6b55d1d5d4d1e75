package session

import (
	"context"
	"slices"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/settings"
)

// Factor names a kind of check.
type Factor string

// The factors.
const (
	FactorUser         Factor = "user"
	FactorPassword     Factor = "password"
	FactorTOTP         Factor = "totp"
	FactorOTPEmail     Factor = "otp_email"
	FactorOTPSMS       Factor = "otp_sms"
	FactorWebAuthn     Factor = "webauthn"
	FactorRecoveryCode Factor = "recovery_code"
	FactorIdP          Factor = "idp"
	// FactorEmailLink is a sign-in link sent to the user's verified email
	// address: a first factor (possession of the mailbox), never a
	// second one.
	FactorEmailLink Factor = "email_link"
)

// secondFactors prove possession after a first factor.
var secondFactors = []Factor{FactorTOTP, FactorOTPEmail, FactorOTPSMS, FactorWebAuthn, FactorRecoveryCode}

// Check is when a factor was proven.
type Check struct {
	At           time.Time
	UserVerified bool
	Passwordless bool
}

// Session is a session as its user, its login and administrators see it.
type Session struct {
	ID         string
	InstanceID string
	// UserID and OrgID are set once a first factor proved the user;
	// LoginName is the name the user check gave, LoginOrgID the
	// organization the login named with it (UserCheck.OrgID).
	UserID, OrgID, LoginName string
	LoginOrgID               string
	CreatedAt, LastActive    time.Time
	ExpiresAt                time.Time
	Checks                   map[Factor]Check
	Status                   Status
}

// Status is what the effective login settings make of a session's checks.
type Status struct {
	// Authenticated: the checks satisfy the login settings of the user's
	// organization, within their lifetimes.
	Authenticated bool
	// Next lists the factors that would advance the session: first
	// factors, then the second factors of the user, or
	// "register_second_factor" when a second factor is required and the
	// user has none.
	Next []string
	// AMR lists the methods of the valid checks (RFC 8176).
	AMR []string
}

// NextRegisterSecondFactor asks the user to register a second factor;
// NextChangePassword to choose a new password (ChangePassword), because
// its password must be changed or is older than the settings allow.
const (
	NextRegisterSecondFactor = "register_second_factor"
	NextChangePassword       = "change_password"
)

// model is a session folded from its events.
type model struct {
	id, instanceID string
	sequence       int64
	tokenHash      string
	created        time.Time
	lastActive     time.Time
	lifetime, idle time.Duration
	// userID is the user the checks are for ("" when the name matched
	// none); proven once a first factor held.
	userID, orgID, loginName string
	loginOrg                 string
	userChecked              bool
	checks                   map[Factor]Check
	ceremonyID               string
	ended                    bool
}

func (m *model) apply(e *eventstore.Event) {
	m.sequence = e.Sequence
	switch p := e.Payload.(type) {
	case *Created:
		m.id, m.instanceID, m.tokenHash = e.Aggregate.ID, e.Aggregate.InstanceID, p.TokenHash
		m.created, m.lastActive, m.lifetime, m.idle = e.CreatedAt, e.CreatedAt, p.Lifetime, p.IdleTimeout
	case *UserChecked:
		if p.UserID != m.userID || !m.userChecked {
			m.checks = map[Factor]Check{}
		}
		m.userID, m.orgID, m.loginName, m.loginOrg, m.userChecked = p.UserID, p.OrgID, p.LoginName, p.LoginOrgID, true
		m.checks[FactorUser] = Check{At: e.CreatedAt}
		m.lastActive = e.CreatedAt
	case *FactorChecked:
		if p.UserID != "" && m.userID == "" {
			m.userID, m.orgID, m.userChecked = p.UserID, p.OrgID, true
		}
		m.checks[p.Factor] = Check{At: e.CreatedAt, UserVerified: p.UserVerified, Passwordless: p.Passwordless}
		m.lastActive = e.CreatedAt
	case *CheckFailed:
		m.lastActive = e.CreatedAt
	case *WebAuthnChallenged:
		m.ceremonyID = p.CeremonyID
		m.lastActive = e.CreatedAt
	case *Ended:
		m.ended = true
	}
}

// expiresAt is when the session ends unless used again before.
func (m *model) expiresAt() time.Time {
	end := m.created.Add(m.lifetime)
	if idle := m.lastActive.Add(m.idle); m.idle > 0 && idle.Before(end) {
		end = idle
	}
	return end
}

func (m *model) live(now time.Time) bool { return !m.ended && now.Before(m.expiresAt()) }

func load(ctx context.Context, store *eventstore.Store, instanceID, id string) (*model, error) {
	events, err := store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{AggregateType}, AggregateIDs: []string{id}})
	if err != nil {
		return nil, err
	}
	m := &model{checks: map[Factor]Check{}}
	for i := range events {
		m.apply(&events[i])
	}
	if m.sequence == 0 {
		return nil, failure.NotFound("session %s not found", id)
	}
	return m, nil
}

// Facts is what the status of a session needs to know of its user once a
// first factor proved it.
type Facts struct {
	// Administrator: the user holds an administrator role (for
	// settings.MFAAdministrators).
	Administrator bool
	// SecondFactors the user has registered.
	SecondFactors []Factor
	// PasswordChangeRequired: an administrator set the password, or it
	// must be changed for another reason; PasswordSetAt is when it was
	// chosen (settings.Password.MaxAge).
	PasswordChangeRequired bool
	PasswordSetAt          time.Time
}

// valid reports whether the check of f is within its lifetime.
func (m *model) valid(f Factor, lifetime time.Duration, now time.Time) (Check, bool) {
	c, ok := m.checks[f]
	return c, ok && (lifetime <= 0 || now.Before(c.At.Add(lifetime)))
}

// status evaluates the checks against the login settings. facts is nil
// until a first factor proved a known user.
func (m *model) status(sett settings.Settings, facts *Facts, now time.Time) Status {
	login := sett.Login
	var s Status
	allowed := func(a string) bool { return slices.Contains(login.AllowedAuthenticators, a) }
	_, pwd := m.valid(FactorPassword, login.PasswordCheckLifetime, now)
	wa, waOK := m.valid(FactorWebAuthn, login.SecondFactorCheckLifetime, now)
	passwordless := waOK && wa.Passwordless && wa.UserVerified
	_, idp := m.valid(FactorIdP, login.ExternalLoginLifetime, now)
	// A sign-in link counts like a password, and only while the settings
	// allow links.
	_, link := m.valid(FactorEmailLink, login.PasswordCheckLifetime, now)
	link = link && login.MagicLinkAllowed
	first := m.userID != "" && (pwd || passwordless || idp || link)
	if pwd {
		s.AMR = append(s.AMR, "pwd")
	}
	if link {
		// RFC 8176 registers no method for email; "otp" is the one-time
		// secret, "email" (unregistered, like "sms" beside "otp" for
		// codes by SMS) says where it went.
		s.AMR = append(s.AMR, "otp", "email")
	}
	second := passwordless
	for _, f := range secondFactors {
		if f == FactorOTPEmail && link {
			// A code to the mailbox that the link proved proves nothing
			// more.
			continue
		}
		if _, ok := m.valid(f, login.SecondFactorCheckLifetime, now); ok {
			second = true
			switch f {
			case FactorTOTP, FactorOTPEmail, FactorRecoveryCode:
				s.AMR = appendOnce(s.AMR, "otp")
			case FactorOTPSMS:
				s.AMR = appendOnce(s.AMR, "otp")
				s.AMR = appendOnce(s.AMR, "sms")
			case FactorWebAuthn:
				s.AMR = appendOnce(s.AMR, "hwk")
				if wa.UserVerified {
					s.AMR = appendOnce(s.AMR, "user")
				}
			}
		}
	}
	if idp {
		s.AMR = append(s.AMR, "fed")
	}
	if !first || facts == nil {
		if allowed(settings.AuthPassword) {
			s.Next = append(s.Next, string(FactorPassword))
		}
		if allowed(settings.AuthPasskey) && login.PasswordlessAllowed {
			s.Next = append(s.Next, string(FactorWebAuthn))
		}
		if allowed(settings.AuthIdP) {
			s.Next = append(s.Next, string(FactorIdP))
		}
		return s
	}
	if second {
		// Two factors, or a passkey that verified its user (possession
		// and a PIN or biometric: two factors in one).
		s.AMR = appendOnce(s.AMR, "mfa")
	}
	// A password that must be changed holds the session back when it is
	// what proved the user.
	if pwd && (facts.PasswordChangeRequired || sett.Password.MaxAge > 0 && !facts.PasswordSetAt.IsZero() && !now.Before(facts.PasswordSetAt.Add(sett.Password.MaxAge))) {
		s.Next = append(s.Next, NextChangePassword)
	}
	mfa := login.MFARequired == settings.MFAEveryone || login.MFARequired == settings.MFAAdministrators && facts.Administrator ||
		len(facts.SecondFactors) > 0
	if mfa && !second {
		n := len(s.Next)
		for _, f := range facts.SecondFactors {
			if f == FactorOTPEmail && link {
				continue
			}
			if f == FactorRecoveryCode || allowed(authenticatorOf(f)) {
				s.Next = append(s.Next, string(f))
			}
		}
		if len(s.Next) == n {
			s.Next = append(s.Next, NextRegisterSecondFactor)
		}
	}
	s.Authenticated = len(s.Next) == 0
	return s
}

// authenticatorOf is the settings' name of the authenticator behind f.
func authenticatorOf(f Factor) string {
	if f == FactorWebAuthn {
		return settings.AuthPasskey
	}
	return string(f)
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// AuthTime is when the user last authenticated in the session: its
// latest check of a factor (OIDC Core's auth_time).
func (s Session) AuthTime() time.Time {
	var t time.Time
	for f, c := range s.Checks {
		if f != FactorUser && c.At.After(t) {
			t = c.At
		}
	}
	return t
}
