package session

import (
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// AggregateType is the event store aggregate type of sessions.
const AggregateType = "session"

// Client is where a request of a sign-in came from.
type Client struct {
	Address   string `json:"address,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
}

// Created starts a session. The lifetimes are the settings' at creation.
type Created struct {
	TokenHash   string        `json:"tokenHash"`
	Lifetime    time.Duration `json:"lifetime"`
	IdleTimeout time.Duration `json:"idleTimeout"`
	Client      Client        `json:"client"`
}

// UserChecked names the user the session is for. UserID is empty when
// the login name matched no user who may sign in interactively; the
// session goes on as if it had (see the package documentation).
//
// LoginOrgID is the organization the login named (UserCheck.OrgID): until
// a first factor proves the user, the session follows its settings, not
// those of the user's organization, which would tell the two apart.
type UserChecked struct {
	UserID     string `json:"userId,omitempty"`
	OrgID      string `json:"orgId,omitempty"`
	LoginName  string `json:"loginName"`
	LoginOrgID string `json:"loginOrgId,omitempty"`
	Client     Client `json:"client"`
}

// FactorChecked records a factor proven. For a passwordless passkey it
// also names the user (UserID), which the assertion identified.
type FactorChecked struct {
	Factor       Factor `json:"factor"`
	UserVerified bool   `json:"userVerified,omitempty"`
	Passwordless bool   `json:"passwordless,omitempty"`
	UserID       string `json:"userId,omitempty"`
	OrgID        string `json:"orgId,omitempty"`
	Client       Client `json:"client"`
}

// CheckFailed records a failed check: a sign-in failure for the audit
// trail. What it counts towards is recorded on the user by package
// credential.
type CheckFailed struct {
	Factor Factor `json:"factor"`
	Client Client `json:"client"`
}

// WebAuthnChallenged records the WebAuthn ceremony a check must answer.
type WebAuthnChallenged struct {
	CeremonyID string `json:"ceremonyId"`
}

// Ended ends the session for good.
type Ended struct {
	Reason string `json:"reason"`
}

func (Created) EventType() string            { return "session.created" }
func (UserChecked) EventType() string        { return "session.user.checked" }
func (FactorChecked) EventType() string      { return "session.factor.checked" }
func (CheckFailed) EventType() string        { return "session.check.failed" }
func (WebAuthnChallenged) EventType() string { return "session.webauthn.challenged" }
func (Ended) EventType() string              { return "session.ended" }

// RegisterEvents adds the session events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Created](r, 1)
	eventstore.Register[UserChecked](r, 1)
	eventstore.Register[FactorChecked](r, 1)
	eventstore.Register[CheckFailed](r, 1)
	eventstore.Register[WebAuthnChallenged](r, 1)
	eventstore.Register[Ended](r, 1)
}
