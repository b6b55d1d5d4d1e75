package portability

import (
	"context"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// MaxEvents bounds the events one export holds.
const MaxEvents = 10000

// Exported records that a user's data was exported. The editor is who
// exported it; the user is the aggregate.
type Exported struct {
	// Events counts the events the export held.
	Events int `json:"events"`
	// Truncated: the account had more events than the export held.
	Truncated bool `json:"truncated,omitempty"`
}

// EventType implements eventstore.Payload.
func (Exported) EventType() string { return "user.data.exported" }

// RegisterEvents adds this package's events to r.
func RegisterEvents(r *eventstore.Registry) {
	eventstore.Register[Exported](r, 1)
}

// Record appends the export of user's data by editor. It does not depend on
// the user's other events (any sequence): an export changes nothing.
func Record(ctx context.Context, store *eventstore.Store, editor eventstore.Editor, user eventstore.Aggregate, events int, truncated bool) error {
	_, err := store.Push(ctx, editor, eventstore.Append{Aggregate: user, ExpectedSequence: eventstore.AnySequence,
		Events: []eventstore.Payload{&Exported{Events: events, Truncated: truncated}}})
	return err
}
