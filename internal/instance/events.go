package instance

import "github.com/castellan-iam/castellan/internal/eventstore"

// AggregateType is the event store aggregate type of instances.
const AggregateType = "instance"

// Added is the first event of an instance.
type Added struct {
	Name string `json:"name"`
}

func (Added) EventType() string { return "instance.added" }

// DomainAdded routes requests for Domain to the instance.
type DomainAdded struct {
	Domain  string `json:"domain"`
	Primary bool   `json:"primary"`
}

func (DomainAdded) EventType() string { return "instance.domain.added" }

// MemberAdded makes a user an administrator of the instance with roles such
// as "instance.owner".
type MemberAdded struct {
	UserID string   `json:"userId"`
	Roles  []string `json:"roles"`
}

func (MemberAdded) EventType() string { return "instance.member.added" }

// MemberRemoved takes all of a user's instance roles.
type MemberRemoved struct {
	UserID string `json:"userId"`
}

func (MemberRemoved) EventType() string { return "instance.member.removed" }

// RegisterEvents adds the instance events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[DomainAdded](r, 1)
	eventstore.Register[MemberAdded](r, 1)
	eventstore.Register[MemberRemoved](r, 1)
}
