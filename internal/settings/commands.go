package settings

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/org"
)

// Commands change the settings of an instance and of its organizations.
type Commands struct {
	store *eventstore.Store
	keys  *keyring.Ring
	// assets finds the files a branding refers to (WithAssets).
	assets Assets
}

// NewCommands returns the settings commands.
func NewCommands(store *eventstore.Store) *Commands { return &Commands{store: store} }

// writeModel is the settings of one level folded from its events: the
// groups it sets, as JSON.
type writeModel struct {
	aggregate eventstore.Aggregate
	groups    map[Group][]byte
	sequence  int64
	// The notification providers the instance level sets.
	smtp *SMTPProviderSet
	sms  *SMSProviderSet
}

// aggregateOf is the aggregate of the instance's settings (orgID "") or of
// an organization's.
func aggregateOf(instanceID, orgID string) eventstore.Aggregate {
	if orgID == "" {
		return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: instanceID}
	}
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: orgID, Owner: orgID}
}

// load folds the settings of a level. An organization level needs the
// organization to exist.
func (c *Commands) load(ctx context.Context, instanceID, orgID string) (*writeModel, error) {
	if orgID != "" {
		if _, err := org.StateOf(ctx, c.store.DB(), instanceID, orgID); err != nil {
			return nil, err
		}
	}
	a := aggregateOf(instanceID, orgID)
	events, err := c.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{AggregateType}, AggregateIDs: []string{a.ID}})
	if err != nil {
		return nil, err
	}
	m := &writeModel{aggregate: a, groups: map[Group][]byte{}}
	for _, e := range events {
		m.sequence = e.Sequence
		switch p := e.Payload.(type) {
		case setEvent:
			v := p.value()
			if m.groups[v.Group()], err = json.Marshal(v); err != nil {
				return nil, err
			}
		case resetEvent:
			delete(m.groups, p.group())
		case *SMTPProviderSet:
			m.smtp = p
		case *SMTPProviderReset:
			m.smtp = nil
		case *SMSProviderSet:
			m.sms = p
		case *SMSProviderReset:
			m.sms = nil
		}
	}
	return m, nil
}

// Set makes value the group's value at a level: the instance's default
// when orgID is empty, else an override for organization orgID, which
// must exist in the instance (failure.NotFound). An invalid value is
// failure.InvalidArgument naming the field, and nothing is written.
// Setting the value the level already has appends nothing.
func (c *Commands) Set(ctx context.Context, editor eventstore.Editor, instanceID, orgID string, value Value) error {
	if value == nil || setOf(value) == nil {
		return failure.InvalidArgument("group", "%T is not the value of a settings group", value)
	}
	value, err := value.Validate()
	if err != nil {
		return err
	}
	if value.Group() == GroupEmbedding && orgID != "" {
		return failure.InvalidArgument("organizationId", "embedding is a setting of the instance only")
	}
	if b, ok := value.(Branding); ok {
		if err := c.checkAssets(ctx, instanceID, b); err != nil {
			return err
		}
	}
	data, err := json.Marshal(value)
	if err != nil {
		return err
	}
	m, err := c.load(ctx, instanceID, orgID)
	if err != nil {
		return err
	}
	if old, ok := m.groups[value.Group()]; ok && bytes.Equal(old, data) {
		return nil
	}
	return c.push(ctx, editor, m, setOf(value))
}

// Reset removes a group's value at a level, so that the level above is
// in force again (the built-in value for the instance level). Resetting a
// group the level does not set appends nothing: Reset is idempotent. An
// unknown group is failure.InvalidArgument; a missing organization
// failure.NotFound.
func (c *Commands) Reset(ctx context.Context, editor eventstore.Editor, instanceID, orgID string, group Group) error {
	if _, err := ParseGroup(string(group)); err != nil {
		return err
	}
	m, err := c.load(ctx, instanceID, orgID)
	if err != nil {
		return err
	}
	if _, ok := m.groups[group]; !ok {
		return nil
	}
	return c.push(ctx, editor, m, resetOf(group))
}

func (c *Commands) push(ctx context.Context, editor eventstore.Editor, m *writeModel, e eventstore.Payload) error {
	_, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.aggregate, ExpectedSequence: m.sequence, Events: []eventstore.Payload{e}})
	return err
}

// ParseGroup reads a group's name, as the API spells it.
func ParseGroup(s string) (Group, error) {
	if g := Group(s); slices.Contains(Groups, g) {
		return g, nil
	}
	return "", failure.InvalidArgument("group", "%q is not a settings group; the groups are login, password, lockout, session, tokens, privacy, branding, texts and embedding", s)
}
