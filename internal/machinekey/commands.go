package machinekey

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Commands add and remove machine keys of users. Whether the caller may
// is decided before.
type Commands struct {
	store *eventstore.Store
	now   func() time.Time
}

// NewCommands returns the key commands; now may be nil (time.Now).
func NewCommands(store *eventstore.Store, now func() time.Time) *Commands {
	if now == nil {
		now = time.Now
	}
	return &Commands{store: store, now: now}
}

// Register adds a public key the user holds (see the function Register).
func (c *Commands) Register(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, publicKey []byte, expiresAt time.Time) (Key, error) {
	add, key, err := Register(user, publicKey, expiresAt, c.now())
	if err != nil {
		return Key{}, err
	}
	_, err = c.store.Push(ctx, editor, add)
	return key, err
}

// Generate makes a key pair for alg and registers its public key (see the
// function Generate); the private key and key file are returned once.
func (c *Commands) Generate(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, alg string, expiresAt time.Time) (key Key, private, file []byte, err error) {
	add, key, private, file, err := Generate(user, alg, expiresAt, c.now())
	if err != nil {
		return Key{}, nil, nil, err
	}
	if _, err := c.store.Push(ctx, editor, add); err != nil {
		return Key{}, nil, nil, err
	}
	return key, private, file, nil
}

// Remove removes a key of the user; a key of another user, or none, is
// failure.NotFound.
func (c *Commands) Remove(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, keyID string) error {
	k, err := Get(ctx, c.store.DB(), user.InstanceID, keyID)
	if err != nil {
		return err
	}
	if k.UserID != user.ID {
		return failure.NotFound("user %s has no key %s", user.ID, keyID)
	}
	_, err = c.store.Push(ctx, editor, Remove(user, k.ID))
	return err
}
