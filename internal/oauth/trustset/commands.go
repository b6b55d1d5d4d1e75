package trustset

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/id"
)

// uniqueDefault claims the instance's default trust set.
const uniqueDefault = "trust_set_default"

// uniqueName keeps the names of an instance's trust sets apart.
const uniqueName = "trust_set_name"

// Commands create, change and remove trust sets. Whether the caller may
// is decided before.
type Commands struct {
	store *eventstore.Store
}

// NewCommands returns the commands.
func NewCommands(store *eventstore.Store) *Commands { return &Commands{store: store} }

func aggregate(instanceID, setID string) eventstore.Aggregate {
	return eventstore.Aggregate{InstanceID: instanceID, Type: AggregateType, ID: setID, Owner: instanceID}
}

func defaultClaim(remove bool) eventstore.Unique {
	return eventstore.Unique{Kind: uniqueDefault, Value: "default", Field: "default", Remove: remove}
}

// Create adds a trust set. A second default set of an instance is
// failure.AlreadyExists (field default): clear the first one's default
// before.
func (c *Commands) Create(ctx context.Context, editor eventstore.Editor, instanceID string, spec Spec) (TrustSet, error) {
	spec, _, err := checkSpec(spec)
	if err != nil {
		return TrustSet{}, err
	}
	t := TrustSet{ID: id.New(), InstanceID: instanceID, Name: spec.Name, Certificates: spec.Certificates, CRLs: spec.CRLs, Default: spec.Default}
	unique := []eventstore.Unique{{Kind: uniqueName, Value: spec.Name, Field: "name", FoldCase: true}}
	if spec.Default {
		unique = append(unique, defaultClaim(false))
	}
	stored, err := c.store.Push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, t.ID), ExpectedSequence: eventstore.NewAggregate,
		Events: []eventstore.Payload{&Added{Name: t.Name, Certificates: t.Certificates, CRLs: t.CRLs, Default: t.Default}}, Unique: unique})
	if err != nil {
		return TrustSet{}, err
	}
	t.CreatedAt = stored[0].CreatedAt.UTC().Truncate(time.Second)
	return t, nil
}

// Update replaces a trust set's name, certificates, CRLs and default flag;
// the next certificate check on every replica follows within CacheTTL.
func (c *Commands) Update(ctx context.Context, editor eventstore.Editor, instanceID, setID string, spec Spec) (TrustSet, error) {
	spec, _, err := checkSpec(spec)
	if err != nil {
		return TrustSet{}, err
	}
	old, seq, err := get(ctx, c.store.DB(), instanceID, setID)
	if err != nil {
		return TrustSet{}, err
	}
	var unique []eventstore.Unique
	if old.Name != spec.Name {
		unique = append(unique, eventstore.Unique{Kind: uniqueName, Value: old.Name, FoldCase: true, Remove: true},
			eventstore.Unique{Kind: uniqueName, Value: spec.Name, Field: "name", FoldCase: true})
	}
	if old.Default != spec.Default {
		unique = append(unique, defaultClaim(old.Default))
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, setID), ExpectedSequence: seq,
		Events: []eventstore.Payload{&Changed{Name: spec.Name, Certificates: spec.Certificates, CRLs: spec.CRLs, Default: spec.Default}}, Unique: unique})
	if err != nil {
		return TrustSet{}, err
	}
	old.Name, old.Certificates, old.CRLs, old.Default = spec.Name, spec.Certificates, spec.CRLs, spec.Default
	return old, nil
}

// Remove deletes a trust set: the clients that name it fail to
// authenticate until they name another.
func (c *Commands) Remove(ctx context.Context, editor eventstore.Editor, instanceID, setID string) error {
	old, seq, err := get(ctx, c.store.DB(), instanceID, setID)
	if err != nil {
		return err
	}
	unique := []eventstore.Unique{{Kind: uniqueName, Value: old.Name, FoldCase: true, Remove: true}}
	if old.Default {
		unique = append(unique, defaultClaim(true))
	}
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: aggregate(instanceID, setID), ExpectedSequence: seq,
		Events: []eventstore.Payload{&Removed{}}, Unique: unique})
	return err
}
