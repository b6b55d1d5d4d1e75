package passkey

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// model is a user's WebAuthn credentials folded from the events of its
// aggregate; events of other packages on it only move the sequence.
type model struct {
	user     eventstore.Aggregate
	sequence int64
	// creds in the order they were added.
	creds []*record
}

// record is one registered credential.
type record struct {
	added         Added
	rawID         []byte
	signCount     uint32
	backupState   bool
	createdAt     time.Time
	lastUsedAt    time.Time
	cloneWarnings int
}

func (m *model) find(credentialID string) (int, *record) {
	for i, r := range m.creds {
		if r.added.CredentialID == credentialID {
			return i, r
		}
	}
	return -1, nil
}

func (m *model) apply(e *eventstore.Event) {
	m.sequence = e.Sequence
	if m.user.Owner == "" {
		m.user = e.Aggregate
	}
	switch p := e.Payload.(type) {
	case *Added:
		raw, err := base64.RawURLEncoding.DecodeString(p.CredentialID)
		if err != nil {
			return // never written: FinishRegistration encodes the id
		}
		m.creds = append(m.creds, &record{added: *p, rawID: raw, signCount: p.SignCount, backupState: p.BackupState, createdAt: e.CreatedAt})
	case *Used:
		if _, r := m.find(p.CredentialID); r != nil {
			r.signCount, r.backupState, r.lastUsedAt = p.SignCount, p.BackupState, e.CreatedAt
		}
	case *CloneWarning:
		if _, r := m.find(p.CredentialID); r != nil {
			r.cloneWarnings++
		}
	case *Removed:
		if i, _ := m.find(p.CredentialID); i >= 0 {
			m.creds = append(m.creds[:i:i], m.creds[i+1:]...)
		}
	}
}

// load folds the WebAuthn credentials of the user aggregate; a user without
// events is failure.NotFound.
func load(ctx context.Context, store *eventstore.Store, user eventstore.Aggregate) (*model, error) {
	events, err := store.Query(ctx, eventstore.Filter{InstanceID: user.InstanceID, AggregateTypes: []string{user.Type}, AggregateIDs: []string{user.ID}})
	if err != nil {
		return nil, err
	}
	return fold(user, events)
}

// fold folds the events of user's aggregate; none is failure.NotFound.
func fold(user eventstore.Aggregate, events []eventstore.Event) (*model, error) {
	m := &model{user: user}
	m.user.Owner = ""
	for i := range events {
		m.apply(&events[i])
	}
	if m.sequence == 0 {
		return nil, failure.NotFound("user %s not found", user.ID)
	}
	return m, nil
}

// credential is the library's view of a record, for verifying an assertion.
func (r *record) credential() webauthn.Credential {
	a := r.added
	var flags protocol.AuthenticatorFlags
	for _, f := range []struct {
		set  bool
		flag protocol.AuthenticatorFlags
	}{{a.UserPresent, protocol.FlagUserPresent}, {a.UserVerified, protocol.FlagUserVerified},
		{a.BackupEligible, protocol.FlagBackupEligible}, {r.backupState, protocol.FlagBackupState}} {
		if f.set {
			flags |= f.flag
		}
	}
	transports := make([]protocol.AuthenticatorTransport, len(a.Transports))
	for i, t := range a.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	var aaguid []byte
	if u, err := uuid.Parse(a.AAGUID); err == nil {
		aaguid = u[:]
	}
	return webauthn.Credential{
		ID:                r.rawID,
		PublicKey:         a.PublicKey,
		AttestationType:   a.AttestationType,
		AttestationFormat: a.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(flags),
		Authenticator:     webauthn.Authenticator{AAGUID: aaguid, SignCount: r.signCount},
	}
}

// public is what callers see of a record.
func (r *record) public() Credential {
	return Credential{
		ID:             r.added.CredentialID,
		Name:           r.added.Name,
		CreatedAt:      r.createdAt,
		LastUsedAt:     r.lastUsedAt,
		Passwordless:   r.added.Passwordless,
		Discoverable:   r.added.Discoverable,
		AAGUID:         r.added.AAGUID,
		BackupEligible: r.added.BackupEligible,
		BackedUp:       r.backupState,
		CloneWarnings:  r.cloneWarnings,
	}
}

// waUser is a user as the library sees it. Its WebAuthn id (the user
// handle, §5.4.3) is the user id's bytes: opaque, no personal data, at
// most 64 bytes.
type waUser struct {
	id, name, displayName string
	creds                 []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.displayName }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (m *model) waUser(name, displayName string) *waUser {
	u := &waUser{id: m.user.ID, name: name, displayName: displayName}
	for _, r := range m.creds {
		u.creds = append(u.creds, r.credential())
	}
	return u
}
