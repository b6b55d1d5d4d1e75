package group

import "github.com/castellan-iam/castellan/internal/eventstore"

// AggregateType is a group's aggregate; its owner is the organization.
const AggregateType = "group"

// Added is a group's first event.
type Added struct {
	Name string `json:"name"`
}

// Renamed renames a group.
type Renamed struct {
	Name string `json:"name"`
}

// Removed removes a group; its memberships and authorizations end.
type Removed struct {
	Name string `json:"name"`
}

// MemberAdded adds a user or a group (one of the two) to a group.
type MemberAdded struct {
	UserID  string `json:"userId,omitempty"`
	GroupID string `json:"groupId,omitempty"`
}

// MemberRemoved takes a user or a group out of a group.
type MemberRemoved struct {
	UserID  string `json:"userId,omitempty"`
	GroupID string `json:"groupId,omitempty"`
}

func (Added) EventType() string         { return "group.added" }
func (Renamed) EventType() string       { return "group.renamed" }
func (Removed) EventType() string       { return "group.removed" }
func (MemberAdded) EventType() string   { return "group.member.added" }
func (MemberRemoved) EventType() string { return "group.member.removed" }

// RegisterEvents adds the group events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Added](r, 1)
	eventstore.Register[Renamed](r, 1)
	eventstore.Register[Removed](r, 1)
	eventstore.Register[MemberAdded](r, 1)
	eventstore.Register[MemberRemoved](r, 1)
}
