package user

import (
	"encoding/json"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// AggregateType is the event store aggregate type of users.
const AggregateType = "user"

// Added is the first event of a user.
//
// Version 2 types the user by schema id and revision and carries its traits;
// version 1 (first starts before user types existed) named only the type.
type Added struct {
	SchemaID       string          `json:"schemaId"`
	SchemaType     string          `json:"schemaType"`
	SchemaRevision int             `json:"schemaRevision"`
	LoginName      string          `json:"loginName"`
	Traits         json.RawMessage `json:"traits"`
	Email          string          `json:"email,omitempty"`
	EmailVerified  bool            `json:"emailVerified,omitempty"`
	Phone          string          `json:"phone,omitempty"`
	PhoneVerified  bool            `json:"phoneVerified,omitempty"`
	// Initial: the user must still set a password or prove its email
	// address before it is active (a human invited without credentials).
	Initial bool `json:"initial,omitempty"`
}

// upcastAddedV1 turns {"schema","loginName","email"} into version 2.
func upcastAddedV1(old json.RawMessage) (json.RawMessage, error) {
	var v1 struct {
		Schema    string `json:"schema"`
		LoginName string `json:"loginName"`
		Email     string `json:"email,omitempty"`
	}
	if err := json.Unmarshal(old, &v1); err != nil {
		return nil, err
	}
	return json.Marshal(Added{SchemaType: v1.Schema, LoginName: v1.LoginName, Email: v1.Email, Traits: json.RawMessage(`{}`)})
}

// TraitsUpdated replaces the traits (after a partial update was merged and
// validated) under a schema revision.
type TraitsUpdated struct {
	SchemaRevision int             `json:"schemaRevision"`
	Traits         json.RawMessage `json:"traits"`
}

// EmailChanged sets the email address.
type EmailChanged struct {
	Email    string `json:"email"`
	Verified bool   `json:"verified"`
}

// PhoneChanged sets the phone number.
type PhoneChanged struct {
	Phone    string `json:"phone"`
	Verified bool   `json:"verified"`
}

// LoginNameChanged renames the user.
type LoginNameChanged struct {
	LoginName string `json:"loginName"`
}

// Locked blocks sign-in.
type Locked struct{}

// Unlocked lifts a lock.
type Unlocked struct{}

// Deactivated suspends the user.
type Deactivated struct{}

// Reactivated ends a suspension.
type Reactivated struct{}

// Deleted removes the user for good.
type Deleted struct{}

// MetadataSet sets a metadata key.
type MetadataSet struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// MetadataRemoved removes a metadata key.
type MetadataRemoved struct {
	Key string `json:"key"`
}

func (Added) EventType() string            { return "user.added" }
func (TraitsUpdated) EventType() string    { return "user.traits.updated" }
func (EmailChanged) EventType() string     { return "user.email.changed" }
func (PhoneChanged) EventType() string     { return "user.phone.changed" }
func (LoginNameChanged) EventType() string { return "user.login_name.changed" }
func (Locked) EventType() string           { return "user.locked" }
func (Unlocked) EventType() string         { return "user.unlocked" }
func (Deactivated) EventType() string      { return "user.deactivated" }

// ResetsPasswordAttempts makes an unlock end the run of wrong passwords
// (credential.AttemptsResetter).
func (Unlocked) ResetsPasswordAttempts()  {}
func (Reactivated) EventType() string     { return "user.reactivated" }
func (Deleted) EventType() string         { return "user.deleted" }
func (MetadataSet) EventType() string     { return "user.metadata.set" }
func (MetadataRemoved) EventType() string { return "user.metadata.removed" }

// RegisterEvents adds the user events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 2)
	r.RegisterUpcaster("user.added", 1, upcastAddedV1)
	eventstore.Register[TraitsUpdated](r, 1)
	eventstore.Register[EmailChanged](r, 1)
	eventstore.Register[PhoneChanged](r, 1)
	eventstore.Register[LoginNameChanged](r, 1)
	eventstore.Register[Locked](r, 1)
	eventstore.Register[Unlocked](r, 1)
	eventstore.Register[Deactivated](r, 1)
	eventstore.Register[Reactivated](r, 1)
	eventstore.Register[Deleted](r, 1)
	eventstore.Register[MetadataSet](r, 1)
	eventstore.Register[MetadataRemoved](r, 1)
	// The credentials of a user are events on its aggregate too.
	credential.RegisterEvents(r)
	passkey.RegisterEvents(r)
}

// EventTypes lists the user event types the read model follows.
func EventTypes() []string {
	return eventstore.TypesOf(&Added{}, &TraitsUpdated{}, &EmailChanged{}, &PhoneChanged{}, &LoginNameChanged{},
		&Locked{}, &Unlocked{}, &Deactivated{}, &Reactivated{}, &Deleted{}, &MetadataSet{}, &MetadataRemoved{},
		// The credential events that change the account.
		&credential.PasswordSet{}, &credential.PasswordLocked{}, &credential.ContactVerified{})
}
