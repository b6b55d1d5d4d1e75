package eventstore

import (
	"context"
	"errors"

	"github.com/castellan-iam/castellan/internal/database"
)

// Personal data in events is crypto-shredded: a payload that carries
// personal data implements Personal; the store keeps those fields apart
// from the payload, sealed with a key of the data's subject (the aggregate,
// e.g. the user), which a Sealer holds outside the immutable log. Erasing the
// subject destroys the key: its events keep their shape — type, editor,
// time, the non-personal fields — and read back with the personal fields
// replaced by placeholders and Event.PersonalErased set.

// Personal is a payload with personal fields.
type Personal interface {
	Payload
	// SplitPersonal returns a copy of the payload with the personal fields
	// cleared, and those fields as JSON. The receiver is not changed.
	SplitPersonal() (Payload, []byte, error)
	// JoinPersonal restores the personal fields from SplitPersonal's JSON.
	JoinPersonal(personal []byte) error
	// ErasePersonal sets the personal fields to placeholders that are
	// unique to subject (projections replaying an erased history must not
	// clash on unique columns).
	ErasePersonal(subject string)
}

// ErrErased is returned by a Sealer for a subject whose key was destroyed.
var ErrErased = errors.New("personal data erased")

// Sealer keeps one key per subject and seals personal data with it.
type Sealer interface {
	// Seal encrypts plaintext for subject, creating the subject's key in tx
	// when it has none.
	Seal(ctx context.Context, tx *database.Tx, instanceID, subject string, plaintext []byte) ([]byte, error)
	// Opener returns a function that decrypts sealed data, reading keys
	// through q and remembering them for the opener's lifetime (one query).
	// It returns ErrErased when the subject's key is gone.
	Opener(ctx context.Context, q Querier) func(instanceID, subject string, sealed []byte) ([]byte, error)
	// Erase destroys subject's key in tx.
	Erase(ctx context.Context, tx *database.Tx, instanceID, subject string) error
}

// Querier reads rows: a pool or a transaction.
type Querier = querier
