package passkey

import (
	"context"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// List returns the user's WebAuthn credentials in the order they were
// registered.
func (c *Commands) List(ctx context.Context, user eventstore.Aggregate) ([]Credential, error) {
	m, err := load(ctx, c.store, user)
	if err != nil {
		return nil, err
	}
	list := make([]Credential, len(m.creds))
	for i, r := range m.creds {
		list[i] = r.public()
	}
	return list, nil
}

// ListIn is List of the events of user's aggregate that the caller read
// (credential.ReadUser), for a reader that needs them for more than this.
func ListIn(user eventstore.Aggregate, events []eventstore.Event) ([]Credential, error) {
	m, err := fold(user, events)
	if err != nil {
		return nil, err
	}
	list := make([]Credential, len(m.creds))
	for i, r := range m.creds {
		list[i] = r.public()
	}
	return list, nil
}

// Remove removes one of the user's credentials (by its base64url id); it
// no longer proves the user, and its id may be registered again.
func (c *Commands) Remove(ctx context.Context, editor eventstore.Editor, user eventstore.Aggregate, credentialID string) error {
	m, err := load(ctx, c.store, user)
	if err != nil {
		return err
	}
	if _, r := m.find(credentialID); r == nil {
		return failure.NotFound("user %s has no WebAuthn credential %q", user.ID, credentialID)
	}
	r := credentialUnique(credentialID)
	r.Remove = true
	_, err = c.store.Push(ctx, editor, eventstore.Append{Aggregate: m.user, ExpectedSequence: m.sequence,
		Events: []eventstore.Payload{&Removed{CredentialID: credentialID}}, Unique: []eventstore.Unique{r}})
	return err
}

// Has reports whether the user has a WebAuthn credential at all (each
// serves as a second factor) and whether one of them was registered to
// sign in without a password.
func (c *Commands) Has(ctx context.Context, user eventstore.Aggregate) (secondFactor, passwordless bool, err error) {
	m, err := load(ctx, c.store, user)
	if err != nil {
		return false, false, err
	}
	return m.has()
}

// HasIn is Has of the events of user's aggregate that the caller read
// (credential.ReadUser), for a sign-in that reads them once.
func HasIn(user eventstore.Aggregate, events []eventstore.Event) (secondFactor, passwordless bool, err error) {
	m, err := fold(user, events)
	if err != nil {
		return false, false, err
	}
	return m.has()
}

func (m *model) has() (secondFactor, passwordless bool, err error) {
	for _, r := range m.creds {
		passwordless = passwordless || r.added.Passwordless
	}
	return len(m.creds) > 0, passwordless, nil
}
