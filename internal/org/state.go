package org

import (
	"context"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// State is an organization's lifecycle state.
type State string

// The states.
const (
	StateActive   State = "active"
	StateInactive State = "inactive"
	StateRemoved  State = "removed"
)

// Domain is a domain an organization claims.
type Domain struct {
	Name     string
	Verified bool
	Primary  bool
	// Method and Token are the pending verification challenge, if any.
	Method string
	Token  string
}

// writeModel is an organization folded from its events, for commands.
type writeModel struct {
	ID       string
	Name     string
	State    State
	Domains  map[string]*Domain
	Metadata map[string][]byte
	Sequence int64
	// LoginNameMustBeDomain is the domain policy.
	LoginNameMustBeDomain bool
}

func (m *writeModel) apply(e *eventstore.Event) {
	m.Sequence = e.Sequence
	switch p := e.Payload.(type) {
	case *Added:
		m.Name, m.State = p.Name, StateActive
	case *Renamed:
		m.Name = p.Name
	case *Deactivated:
		m.State = StateInactive
	case *Reactivated:
		m.State = StateActive
	case *Removed:
		m.State = StateRemoved
	case *DomainAdded:
		m.Domains[p.Domain] = &Domain{Name: p.Domain}
	case *DomainVerificationRequested:
		if d := m.Domains[p.Domain]; d != nil {
			d.Method, d.Token = p.Method, p.Token
		}
	case *DomainVerified:
		if d := m.Domains[p.Domain]; d != nil {
			d.Verified, d.Token = true, ""
		}
	case *PrimaryDomainSet:
		for name, d := range m.Domains {
			d.Primary = name == p.Domain
		}
	case *DomainRemoved:
		delete(m.Domains, p.Domain)
	case *MetadataSet:
		m.Metadata[p.Key] = p.Value
	case *MetadataRemoved:
		delete(m.Metadata, p.Key)
	case *DomainPolicySet:
		m.LoginNameMustBeDomain = p.LoginNameMustBeDomain
	}
}

// load folds an organization's events. A missing or removed organization is
// failure.NotFound.
func load(ctx context.Context, store *eventstore.Store, instanceID, orgID string) (*writeModel, error) {
	events, err := store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{AggregateType}, AggregateIDs: []string{orgID}})
	if err != nil {
		return nil, err
	}
	m := &writeModel{ID: orgID, Domains: map[string]*Domain{}, Metadata: map[string][]byte{}}
	for i := range events {
		m.apply(&events[i])
	}
	if m.Sequence == 0 || m.State == StateRemoved {
		return nil, failure.NotFound("organization %s not found", orgID)
	}
	return m, nil
}

func (m *writeModel) aggregate(instanceID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: m.ID, Owner: m.ID}
}
