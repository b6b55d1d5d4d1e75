package pat

import (
	"context"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// Commands issue and revoke personal access tokens. Who may do so for
// whom (a person creates its own; administrators, only for machines that
// hold nothing they lack) is the caller's decision, made before.
type Commands struct {
	store *eventstore.Store
	now   func() time.Time
}

// NewCommands returns the token commands; now may be nil (time.Now).
func NewCommands(store *eventstore.Store, now func() time.Time) *Commands {
	if now == nil {
		now = time.Now
	}
	return &Commands{store: store, now: now}
}

// Add issues a token for the user aggregate, valid until expiresAt, and
// returns its id and the token itself, to be shown once: only its hash is
// stored.
func (c *Commands) Add(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, expiresAt time.Time) (tokenID, token string, err error) {
	add, tokenID, token, err := New(user, expiresAt, c.now())
	if err != nil {
		return "", "", err
	}
	if _, err := c.store.Push(ctx, editor, add); err != nil {
		return "", "", err
	}
	return tokenID, token, nil
}

// Revoke removes a token the user holds; another user's token, or none,
// is failure.NotFound.
func (c *Commands) Revoke(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, tokenID string) error {
	revoke, err := RevokeOwned(ctx, c.store.DB(), user, tokenID)
	if err != nil {
		return err
	}
	_, err = c.store.Push(ctx, editor, revoke)
	return err
}
