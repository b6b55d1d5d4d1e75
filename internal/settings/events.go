package settings

import "github.com/castellan-iam/castellan/internal/eventstore"

// AggregateType is the event store aggregate type of the settings of one
// level: the instance (id: the instance's id, no owner) or an organization
// (id and owner: the organization's id).
const AggregateType = "settings"

// A set event carries the whole group; a reset event removes the level's
// value of the group, so that the level above is in force again.

// LoginSet sets the login settings of a level.
type LoginSet struct{ Login }

// LoginReset falls back to the login settings of the level above.
type LoginReset struct{}

// PasswordSet sets the password settings of a level.
type PasswordSet struct{ Password }

// PasswordReset falls back to the password settings of the level above.
type PasswordReset struct{}

// LockoutSet sets the lockout settings of a level.
type LockoutSet struct{ Lockout }

// LockoutReset falls back to the lockout settings of the level above.
type LockoutReset struct{}

// SessionSet sets the session settings of a level.
type SessionSet struct{ Session }

// SessionReset falls back to the session settings of the level above.
type SessionReset struct{}

// TokensSet sets the token lifetimes of a level.
type TokensSet struct{ Tokens }

// TokensReset falls back to the token lifetimes of the level above.
type TokensReset struct{}

// PrivacySet sets the privacy settings of a level.
type PrivacySet struct{ Privacy }

// PrivacyReset falls back to the privacy settings of the level above.
type PrivacyReset struct{}

func (LoginSet) EventType() string      { return "settings.login.set" }
func (LoginReset) EventType() string    { return "settings.login.reset" }
func (PasswordSet) EventType() string   { return "settings.password.set" }
func (PasswordReset) EventType() string { return "settings.password.reset" }
func (LockoutSet) EventType() string    { return "settings.lockout.set" }
func (LockoutReset) EventType() string  { return "settings.lockout.reset" }
func (SessionSet) EventType() string    { return "settings.session.set" }
func (SessionReset) EventType() string  { return "settings.session.reset" }
func (TokensSet) EventType() string     { return "settings.tokens.set" }
func (TokensReset) EventType() string   { return "settings.tokens.reset" }
func (PrivacySet) EventType() string    { return "settings.privacy.set" }
func (PrivacyReset) EventType() string  { return "settings.privacy.reset" }

// setEvent and resetEvent let the write model and the projection handle
// every group alike.
type setEvent interface{ value() Value }
type resetEvent interface{ group() Group }

func (e *LoginSet) value() Value    { return e.Login }
func (e *PasswordSet) value() Value { return e.Password }
func (e *LockoutSet) value() Value  { return e.Lockout }
func (e *SessionSet) value() Value  { return e.Session }
func (e *TokensSet) value() Value   { return e.Tokens }
func (e *PrivacySet) value() Value  { return e.Privacy }

func (*LoginReset) group() Group    { return GroupLogin }
func (*PasswordReset) group() Group { return GroupPassword }
func (*LockoutReset) group() Group  { return GroupLockout }
func (*SessionReset) group() Group  { return GroupSession }
func (*TokensReset) group() Group   { return GroupTokens }
func (*PrivacyReset) group() Group  { return GroupPrivacy }

// setOf is the event that sets v; resetOf the one that resets group g.
func setOf(v Value) eventstore.Payload {
	switch v := v.(type) {
	case Login:
		return &LoginSet{v}
	case Password:
		return &PasswordSet{v}
	case Lockout:
		return &LockoutSet{v}
	case Session:
		return &SessionSet{v}
	case Tokens:
		return &TokensSet{v}
	case Privacy:
		return &PrivacySet{v}
	case Branding:
		return &BrandingSet{v}
	case Texts:
		return &TextsSet{v}
	case Embedding:
		return &EmbeddingSet{v}
	}
	return nil
}

func resetOf(g Group) eventstore.Payload {
	switch g {
	case GroupLogin:
		return &LoginReset{}
	case GroupPassword:
		return &PasswordReset{}
	case GroupLockout:
		return &LockoutReset{}
	case GroupSession:
		return &SessionReset{}
	case GroupTokens:
		return &TokensReset{}
	case GroupPrivacy:
		return &PrivacyReset{}
	case GroupBranding:
		return &BrandingReset{}
	case GroupTexts:
		return &TextsReset{}
	case GroupEmbedding:
		return &EmbeddingReset{}
	}
	return nil
}

// RegisterEvents adds the settings events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[LoginSet](r, 1)
	eventstore.Register[LoginReset](r, 1)
	eventstore.Register[PasswordSet](r, 1)
	eventstore.Register[PasswordReset](r, 1)
	eventstore.Register[LockoutSet](r, 1)
	eventstore.Register[LockoutReset](r, 1)
	eventstore.Register[SessionSet](r, 1)
	eventstore.Register[SessionReset](r, 1)
	eventstore.Register[TokensSet](r, 1)
	eventstore.Register[TokensReset](r, 1)
	eventstore.Register[PrivacySet](r, 1)
	eventstore.Register[PrivacyReset](r, 1)
	eventstore.Register[BrandingSet](r, 1)
	eventstore.Register[BrandingReset](r, 1)
	eventstore.Register[TextsSet](r, 1)
	eventstore.Register[TextsReset](r, 1)
	eventstore.Register[EmbeddingSet](r, 1)
	eventstore.Register[EmbeddingReset](r, 1)
	registerNotificationEvents(r)
}

// EventTypes lists every settings event type.
func EventTypes() []string {
	return eventstore.TypesOf(&LoginSet{}, &LoginReset{}, &PasswordSet{}, &PasswordReset{}, &LockoutSet{}, &LockoutReset{},
		&SessionSet{}, &SessionReset{}, &TokensSet{}, &TokensReset{}, &PrivacySet{}, &PrivacyReset{}, &BrandingSet{}, &BrandingReset{},
		&TextsSet{}, &TextsReset{}, &EmbeddingSet{}, &EmbeddingReset{})
}

// AllEventTypes lists the group events and the notification provider
// events.
func AllEventTypes() []string { return append(EventTypes(), notificationEventTypes()...) }
