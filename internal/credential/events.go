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

func (PasswordSet) EventType() string            { return "user.password.set" }
func (PasswordCheckSucceeded) EventType() string { return "user.password.check.succeeded" }
func (PasswordCheckFailed) EventType() string    { return "user.password.check.failed" }
func (PasswordLocked) EventType() string         { return "user.password.locked" }
func (ContactCodeAdded) EventType() string       { return "user.contact.code.added" }
func (ContactCodeFailed) EventType() string      { return "user.contact.code.failed" }
func (ContactVerified) EventType() string        { return "user.contact.verified" }

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
