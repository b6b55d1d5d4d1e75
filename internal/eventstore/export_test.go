package eventstore

import (
	"context"
	"time"
)

// SetMaxStampAge shortens how long an append may take after its time
// stamp, for a test that stalls one.
func SetMaxStampAge(s *Store, d time.Duration) { s.maxStampAge = d }

// QuerySQL is the statement Query runs for f, with its arguments.
func QuerySQL(ctx context.Context, s *Store, f Filter) (string, []any, error) {
	return querySQL(ctx, s.db.IndexReader(), s.db.Dialect, f)
}

// RoundInterval is roundInterval.
const RoundInterval = roundInterval
