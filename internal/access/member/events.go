package member

import (
	"github.com/castellan-iam/castellan/internal/eventstore"
)

// OrgMemberAdded gives a user roles on an organization (or changes them).
type OrgMemberAdded struct {
	UserID string   `json:"userId"`
	Roles  []string `json:"roles"`
}

// OrgMemberRemoved takes all of a user's roles on an organization.
type OrgMemberRemoved struct {
	UserID string `json:"userId"`
}

func (OrgMemberAdded) EventType() string   { return "org.member.added" }
func (OrgMemberRemoved) EventType() string { return "org.member.removed" }

// RegisterEvents adds the member events of organizations to r. (Instance
// member events are registered by package instance.)
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[OrgMemberAdded](r, 1)
	eventstore.Register[OrgMemberRemoved](r, 1)
}
