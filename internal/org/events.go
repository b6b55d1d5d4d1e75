package org

import "github.com/castellan-iam/castellan/internal/eventstore"

// AggregateType is the event store aggregate type of organizations.
const AggregateType = "org"

// Added is the first event of an organization.
type Added struct {
	Name string `json:"name"`
}

// Renamed changes the name.
type Renamed struct {
	Name string `json:"name"`
}

// Deactivated suspends the organization.
type Deactivated struct{}

// Reactivated ends a deactivation.
type Reactivated struct{}

// Removed deletes the organization for good.
type Removed struct{}

// DomainAdded claims a domain, not yet verified.
type DomainAdded struct {
	Domain string `json:"domain"`
}

// DomainVerificationRequested records the challenge the organization must
// publish to prove a domain.
type DomainVerificationRequested struct {
	Domain string `json:"domain"`
	Method string `json:"method"`
	Token  string `json:"token"`
}

// DomainVerified records a successful proof of ownership.
type DomainVerified struct {
	Domain string `json:"domain"`
}

// PrimaryDomainSet makes a verified domain the primary one.
type PrimaryDomainSet struct {
	Domain string `json:"domain"`
}

// DomainRemoved gives a domain up.
type DomainRemoved struct {
	Domain string `json:"domain"`
}

// MetadataSet sets a metadata key.
type MetadataSet struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// DomainPolicySet changes the organization's domain policy.
type DomainPolicySet struct {
	// LoginNameMustBeDomain makes every new login name of the
	// organization's users end with "@" and one of its verified domains.
	LoginNameMustBeDomain bool `json:"loginNameMustBeDomain"`
}

// MetadataRemoved removes a metadata key.
type MetadataRemoved struct {
	Key string `json:"key"`
}

func (Added) EventType() string                       { return "org.added" }
func (Renamed) EventType() string                     { return "org.renamed" }
func (Deactivated) EventType() string                 { return "org.deactivated" }
func (Reactivated) EventType() string                 { return "org.reactivated" }
func (Removed) EventType() string                     { return "org.removed" }
func (DomainAdded) EventType() string                 { return "org.domain.added" }
func (DomainVerificationRequested) EventType() string { return "org.domain.verification.requested" }
func (DomainVerified) EventType() string              { return "org.domain.verified" }
func (PrimaryDomainSet) EventType() string            { return "org.domain.primary.set" }
func (DomainRemoved) EventType() string               { return "org.domain.removed" }
func (MetadataSet) EventType() string                 { return "org.metadata.set" }
func (MetadataRemoved) EventType() string             { return "org.metadata.removed" }
func (DomainPolicySet) EventType() string             { return "org.domain_policy.set" }

// RegisterEvents adds the organization events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[Renamed](r, 1)
	eventstore.Register[Deactivated](r, 1)
	eventstore.Register[Reactivated](r, 1)
	eventstore.Register[Removed](r, 1)
	eventstore.Register[DomainAdded](r, 1)
	eventstore.Register[DomainVerificationRequested](r, 1)
	eventstore.Register[DomainVerified](r, 1)
	eventstore.Register[PrimaryDomainSet](r, 1)
	eventstore.Register[DomainRemoved](r, 1)
	eventstore.Register[MetadataSet](r, 1)
	eventstore.Register[MetadataRemoved](r, 1)
	eventstore.Register[DomainPolicySet](r, 1)
}

// EventTypes lists every organization event type.
func EventTypes() []string {
	return eventstore.TypesOf(&Added{}, &Renamed{}, &Deactivated{}, &Reactivated{}, &Removed{},
		&DomainAdded{}, &DomainVerificationRequested{}, &DomainVerified{}, &PrimaryDomainSet{},
		&DomainRemoved{}, &MetadataSet{}, &MetadataRemoved{}, &DomainPolicySet{})
}
