package user

import (
	"context"
	"encoding/json"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// State is a user's lifecycle state.
type State string

// The states.
const (
	StateInitial  State = "initial"
	StateActive   State = "active"
	StateInactive State = "inactive"
	StateLocked   State = "locked"
	StateDeleted  State = "deleted"
)

// writeModel is a user folded from its events, for commands.
type writeModel struct {
	ID, OrgID      string
	SchemaID       string
	SchemaType     string
	SchemaRevision int
	LoginName      string
	Traits         json.RawMessage
	Email          string
	Phone          string
	State          State
	Metadata       map[string][]byte
	Sequence       int64
}

func (m *writeModel) apply(e *eventstore.Event) {
	m.Sequence = e.Sequence
	switch p := e.Payload.(type) {
	case *Added:
		m.OrgID = e.Aggregate.Owner
		m.SchemaID, m.SchemaType, m.SchemaRevision = p.SchemaID, p.SchemaType, p.SchemaRevision
		m.LoginName, m.Traits, m.Email, m.Phone, m.State = p.LoginName, p.Traits, p.Email, p.Phone, StateActive
		if p.Initial {
			m.State = StateInitial
		}
	case *credential.PasswordSet:
		if m.State == StateInitial {
			m.State = StateActive
		}
	case *credential.ContactVerified:
		if m.State == StateInitial && p.Channel == credential.ChannelEmail {
			m.State = StateActive
		}
	case *credential.PasswordLocked, *credential.OTPLocked:
		if m.State == StateActive {
			m.State = StateLocked
		}
	case *TraitsUpdated:
		m.SchemaRevision, m.Traits = p.SchemaRevision, p.Traits
	case *EmailChanged:
		m.Email = p.Email
	case *PhoneChanged:
		m.Phone = p.Phone
	case *LoginNameChanged:
		m.LoginName = p.LoginName
	case *Locked:
		m.State = StateLocked
	case *Unlocked, *Reactivated:
		m.State = StateActive
	case *Deactivated:
		m.State = StateInactive
	case *Deleted:
		m.State = StateDeleted
	case *MetadataSet:
		m.Metadata[p.Key] = p.Value
	case *MetadataRemoved:
		delete(m.Metadata, p.Key)
	}
}

func load(ctx context.Context, store *eventstore.Store, instanceID, userID string) (*writeModel, error) {
	events, err := store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{AggregateType}, AggregateIDs: []string{userID}})
	if err != nil {
		return nil, err
	}
	m := &writeModel{ID: userID, Metadata: map[string][]byte{}}
	for i := range events {
		m.apply(&events[i])
	}
	if m.Sequence == 0 || m.State == StateDeleted {
		return nil, failure.NotFound("user %s not found", userID)
	}
	return m, nil
}

func (m *writeModel) aggregate(instanceID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: m.ID, Owner: m.OrgID}
}
