package user

import (
	"context"
	"log/slog"
)

// Erasing a user (Delete) destroys the key that sealed its personal data
// in the event log and deletes its rows from the read model, in one
// transaction. What a deletion removes can still be read from the database
// files until it is overwritten: the destroyed key (which, with the master
// key, opens every personal field of the user's events) and the plaintext
// of the read model. After the erasure has committed, the database is
// asked to scrub those tables (database.ScrubDeleted): on SQLite the
// deleted rows are zeroed (secure_delete) and the write-ahead log is
// checkpointed and truncated; on PostgreSQL the tables are vacuumed, which
// removes the dead rows but does not overwrite their bytes — see
// docs/architecture.md, "Personal data", for what remains and for how long.

// erasedTables held a user's personal data in plaintext, or its key: the
// read model, the unique claims of its login name and unique traits
// (package eventstore), and the user's data key (package pii).
var erasedTables = []string{"users", "user_traits", "user_metadata", "unique_constraints", "pii_keys"}

// scrubAfterErasure scrubs the erased tables once Delete succeeded (*err is
// nil). It is best effort: the erasure stands either way, and a failure is
// logged for the operator.
func (c *Commands) scrubAfterErasure(ctx context.Context, userID string, err *error) {
	if *err != nil {
		return
	}
	if scrubErr := c.db().ScrubDeleted(ctx, erasedTables...); scrubErr != nil {
		slog.Default().WarnContext(ctx, "the database files may hold personal data of an erased user until the space is reused",
			"user", userID, "err", scrubErr)
	}
}
