package eventstore

import "time"

// Freshness is what a per-process cache of rows derived from events knows
// of its last read of the count that tells whether those rows changed (a
// count an inline projection increments in the transaction of each
// change, such as package member's caller_versions): when it read the
// count, and the store's Changed channel as it was just before. What the
// cache holds under that count may be used without reading it again while
// it is Fresh — no local append since, and not older than maxStale, the
// bound on how long a change made by another replica goes unseen.
// Packages authn (callers) and user (trait searches' fields) keep their
// caches this way.
type Freshness struct {
	at      time.Time
	changed <-chan struct{}
}

// ReadingCount returns the Freshness of a count about to be read at now:
// changed (Store.Changed) is taken before the read, so that an append
// after it closes the channel the cache holds.
func ReadingCount(changed func() <-chan struct{}, now time.Time) Freshness {
	return Freshness{at: now, changed: changed()}
}

// Fresh reports whether what was read under f may be used at now without
// reading the count again; the zero Freshness never is.
func (f Freshness) Fresh(now time.Time, maxStale time.Duration) bool {
	if f.at.IsZero() || now.Sub(f.at) >= maxStale {
		return false
	}
	select {
	case <-f.changed:
		return false
	default:
		return true
	}
}
