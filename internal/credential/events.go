package credential

import (
	"encoding/json"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// The credential events, all on the user's aggregate. Their type names are
// those the events had when package user recorded them.

// PasswordSet stores a new password hash (PHC string, never the password).
type PasswordSet struct {
	Hash           string `json:"hash"`
	ChangeRequired bool   `json:"changeRequired"`
	// Upgraded: the same password, re-hashed with the current parameters
	// at a sign-in; its age does not start again.
	Upgraded bool `json:"upgraded,omitempty"`
}

// PasswordCheckSucceeded records a successful password check; it resets
// the count of failures.
type PasswordCheckSucceeded struct{}

// PasswordCheckFailed records a wrong password.
type PasswordCheckFailed struct{}

// PasswordLocked records that one wrong password too many in a row locked
// the user. (A lock by an administrator is package user's event.)
type PasswordLocked struct{}

// ContactCodeAdded records a verification code sent to the email address
// or phone number. The code is sealed with the instance's key ring.
type ContactCodeAdded struct {
	Channel   string    `json:"channel"`
	To        string    `json:"to"`
	Code      []byte    `json:"code"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// ContactCodeFailed records a wrong code.
type ContactCodeFailed struct {
	Channel string `json:"channel"`
}

// ContactVerified marks the email address or phone number Value as proven.
type ContactVerified struct {
	Channel string `json:"channel"`
	Value   string `json:"value"`
}

// TOTPAdded records a pending TOTP registration (RFC 6238): the seed,
// sealed with the instance's key ring, which VerifyTOTP activates. It
// replaces any earlier pending one.
type TOTPAdded struct {
	Seed []byte `json:"seed"`
}

// TOTPVerified activates the pending registration; Step is the time step
// of the code that proved it, which no later code may repeat.
type TOTPVerified struct {
	Step int64 `json:"step"`
}

// TOTPRemoved removes the user's TOTP, active or pending.
type TOTPRemoved struct{}

// TOTPCheckSucceeded records a TOTP code accepted at sign-in and its time
// step: a code of this step or an earlier one is refused from now on.
type TOTPCheckSucceeded struct {
	Step int64 `json:"step"`
}

// TOTPCheckFailed records a wrong TOTP code, at sign-in or when
// activating a registration (Registration); Replayed tells a correct code
// of a step already used.
type TOTPCheckFailed struct {
	Registration bool `json:"registration,omitempty"`
	Replayed     bool `json:"replayed,omitempty"`
}

// OTPLocked records that one wrong one-time code too many in a row (TOTP,
// sign-in code or recovery code; Policy.MaxOTPAttempts) locked the user.
type OTPLocked struct{}

// RecoveryCodesGenerated replaces the user's recovery codes with new ones,
// kept as their hashes (recoveryCodeHash).
type RecoveryCodesGenerated struct {
	Hashes []string `json:"hashes"`
}

// RecoveryCodeUsed records a recovery code accepted at sign-in; the code
// of that hash is spent.
type RecoveryCodeUsed struct {
	Hash string `json:"hash"`
}

// RecoveryCodeCheckFailed records a wrong recovery code.
type RecoveryCodeCheckFailed struct{}

// RecoveryCodesRemoved removes all of the user's recovery codes.
type RecoveryCodesRemoved struct{}

// SignInCodeFactorAdded opts the user in to codes sent to its email
// address or phone (Channel) as a second factor.
type SignInCodeFactorAdded struct {
	Channel string `json:"channel"`
}

// SignInCodeFactorRemoved opts the user out of a channel's sign-in codes.
type SignInCodeFactorRemoved struct {
	Channel string `json:"channel"`
}

// SignInCodeSent records a sign-in code sent to To, sealed with the
// instance's key ring; it replaces an earlier one of the channel.
type SignInCodeSent struct {
	Channel   string    `json:"channel"`
	To        string    `json:"to"`
	Code      []byte    `json:"code"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// SignInCodeCheckSucceeded records an accepted sign-in code; it is spent.
type SignInCodeCheckSucceeded struct {
	Channel string `json:"channel"`
}

// SignInCodeCheckFailed records a wrong, expired or spent sign-in code.
type SignInCodeCheckFailed struct {
	Channel string `json:"channel"`
}

func (PasswordSet) EventType() string              { return "user.password.set" }
func (PasswordCheckSucceeded) EventType() string   { return "user.password.check.succeeded" }
func (PasswordCheckFailed) EventType() string      { return "user.password.check.failed" }
func (PasswordLocked) EventType() string           { return "user.password.locked" }
func (ContactCodeAdded) EventType() string         { return "user.contact.code.added" }
func (ContactCodeFailed) EventType() string        { return "user.contact.code.failed" }
func (ContactVerified) EventType() string          { return "user.contact.verified" }
func (TOTPAdded) EventType() string                { return "user.totp.added" }
func (TOTPVerified) EventType() string             { return "user.totp.verified" }
func (TOTPRemoved) EventType() string              { return "user.totp.removed" }
func (TOTPCheckSucceeded) EventType() string       { return "user.totp.check.succeeded" }
func (TOTPCheckFailed) EventType() string          { return "user.totp.check.failed" }
func (OTPLocked) EventType() string                { return "user.otp.locked" }
func (RecoveryCodesGenerated) EventType() string   { return "user.recovery_codes.generated" }
func (RecoveryCodeUsed) EventType() string         { return "user.recovery_code.used" }
func (RecoveryCodeCheckFailed) EventType() string  { return "user.recovery_code.check.failed" }
func (RecoveryCodesRemoved) EventType() string     { return "user.recovery_codes.removed" }
func (SignInCodeFactorAdded) EventType() string    { return "user.signin_code.added" }
func (SignInCodeFactorRemoved) EventType() string  { return "user.signin_code.removed" }
func (SignInCodeSent) EventType() string           { return "user.signin_code.sent" }
func (SignInCodeCheckSucceeded) EventType() string { return "user.signin_code.check.succeeded" }
func (SignInCodeCheckFailed) EventType() string    { return "user.signin_code.check.failed" }

// RegisterEvents adds the credential events to r. Package user registers
// them with its own, since they live on the user's aggregate.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[PasswordSet](r, 1)
	eventstore.Register[PasswordCheckSucceeded](r, 1)
	eventstore.Register[PasswordCheckFailed](r, 1)
	eventstore.Register[PasswordLocked](r, 1)
	eventstore.Register[ContactCodeAdded](r, 1)
	eventstore.Register[ContactCodeFailed](r, 1)
	eventstore.Register[ContactVerified](r, 1)
	eventstore.Register[TOTPAdded](r, 1)
	eventstore.Register[TOTPVerified](r, 1)
	eventstore.Register[TOTPRemoved](r, 1)
	eventstore.Register[TOTPCheckSucceeded](r, 1)
	eventstore.Register[TOTPCheckFailed](r, 1)
	eventstore.Register[OTPLocked](r, 1)
	eventstore.Register[RecoveryCodesGenerated](r, 1)
	eventstore.Register[RecoveryCodeUsed](r, 1)
	eventstore.Register[RecoveryCodeCheckFailed](r, 1)
	eventstore.Register[RecoveryCodesRemoved](r, 1)
	eventstore.Register[SignInCodeFactorAdded](r, 1)
	eventstore.Register[SignInCodeFactorRemoved](r, 1)
	eventstore.Register[SignInCodeSent](r, 1)
	eventstore.Register[SignInCodeCheckSucceeded](r, 1)
	eventstore.Register[SignInCodeCheckFailed](r, 1)
	eventstore.Register[EmailLinkSent](r, 1)
	eventstore.Register[EmailLinkUsed](r, 1)
}

// Contact channels.
const (
	ChannelEmail = "email"
	ChannelPhone = "phone"
)

// Where a code was sent and which address was proven are personal data,
// sealed per user by the event store (eventstore.Personal) and erased with
// the user.

func (p *ContactCodeAdded) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.To = ""
	b, err := json.Marshal(p.To)
	return &c, b, err
}

func (p *ContactCodeAdded) JoinPersonal(b []byte) error { return json.Unmarshal(b, &p.To) }
func (p *ContactCodeAdded) ErasePersonal(string)        { p.To = "" }

func (p *ContactVerified) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.Value = ""
	b, err := json.Marshal(p.Value)
	return &c, b, err
}

func (p *ContactVerified) JoinPersonal(b []byte) error { return json.Unmarshal(b, &p.Value) }
func (p *ContactVerified) ErasePersonal(string)        { p.Value = "" }

func (p *SignInCodeSent) SplitPersonal() (eventstore.Payload, []byte, error) {
	c := *p
	c.To = ""
	b, err := json.Marshal(p.To)
	return &c, b, err
}

func (p *SignInCodeSent) JoinPersonal(b []byte) error { return json.Unmarshal(b, &p.To) }
func (p *SignInCodeSent) ErasePersonal(string)        { p.To = "" }
