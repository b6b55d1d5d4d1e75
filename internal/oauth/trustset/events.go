package trustset

import "github.com/castellan-iam/castellan/internal/eventstore"

// AggregateType is the aggregate of a trust set; its owner is the
// instance.
const AggregateType = "trust_set"

// Added is the first event of a trust set: its CA certificates and CRLs,
// as PEM.
type Added struct {
	Name         string `json:"name"`
	Certificates string `json:"certificates"`
	CRLs         string `json:"crls,omitempty"`
	Default      bool   `json:"default,omitempty"`
}

// Changed replaces every field of a trust set, as it is from now on.
type Changed struct {
	Name         string `json:"name"`
	Certificates string `json:"certificates"`
	CRLs         string `json:"crls,omitempty"`
	Default      bool   `json:"default,omitempty"`
}

// Removed deletes a trust set.
type Removed struct{}

func (Added) EventType() string   { return "trust_set.added" }
func (Changed) EventType() string { return "trust_set.changed" }
func (Removed) EventType() string { return "trust_set.removed" }

// RegisterEvents adds the trust set events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[Changed](r, 1)
	eventstore.Register[Removed](r, 1)
}
