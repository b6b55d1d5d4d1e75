package grants

import (
	"time"
)

// Group commit of refresh token rotations (database.GroupCommit): a
// rotation is a few rows, and its cost is the commit's flush to disk, so
// concurrent rotations share a transaction. The rotations of a batch run
// one after another in it, so two refreshes of one token in one batch
// behave as they would in turn: the second finds the token used, a reuse.
// A failure of the database fails the whole batch (each caller gets it),
// and nothing of it is written.

// rotation is one refresh waiting for its transaction.
type rotation struct {
	instanceID, clientID, tokenHash, nextHash string
	idle                                      time.Duration
	now                                       time.Time
	// jkt is the DPoP key the request proved, "" for none.
	jkt string
	// keep renews the presented token instead of rotating it (Renew):
	// its idle window restarts, no token is issued.
	keep bool
	// Set by apply.
	gr     Grant
	outErr error
}
