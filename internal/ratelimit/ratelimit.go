package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows Limit events per key within each Window.
type Limiter struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[string]int
}

// DefaultMaxKeys bounds the keys a Limiter tracks at once.
const DefaultMaxKeys = 100_000

// New returns a limiter allowing limit events per key per window. now may
// be nil (time.Now).
func New(limit int, window time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{limit: limit, window: window, maxKeys: DefaultMaxKeys, now: now, counts: map[string]int{}}
}

// Allow counts an event for key and reports whether it is within the
// limit. A refused event is not counted.
func (l *Limiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.start) >= l.window || now.Before(l.start) {
		l.start, l.counts = now, map[string]int{}
	}
	n, tracked := l.counts[key]
	if !tracked && len(l.counts) >= l.maxKeys {
		return false
	}
	if n >= l.limit {
		return false
	}
	l.counts[key] = n + 1
	return true
}
