package session

import (
	"context"
	"slices"
	"sync"
	"time"
)

// pace makes failed sign-ins take alike. A wrong password for a known
// user does more work than one for a name that matched nobody — reading
// the user, its type, its standing, recording the failure on it — however
// the two paths are kept alike, and on a fast hash that difference shows.
// So a failed check answers no sooner than the 90th percentile of the
// recent failures of known users: the time of nobody's failure and most
// of somebody's are then the same, the pace of the slowest real one.
// An attacker gains nothing from it; a user who mistyped waits a few
// milliseconds more.
type pace struct {
	mu     sync.Mutex
	recent []time.Duration // of known users' failures, newest last
}

const paceWindow = 64

// record adds the duration of a known user's failed check.
func (p *pace) record(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent = append(p.recent, d)
	if len(p.recent) > paceWindow {
		p.recent = p.recent[len(p.recent)-paceWindow:]
	}
}

// floor is the time a failed check should take.
func (p *pace) floor() time.Duration {
	p.mu.Lock()
	sorted := slices.Clone(p.recent)
	p.mu.Unlock()
	if len(sorted) == 0 {
		return 0
	}
	slices.Sort(sorted)
	return sorted[len(sorted)*9/10]
}

// wait sleeps until floor has passed since start, or ctx ends.
func (p *pace) wait(ctx context.Context, start time.Time) {
	d := p.floor() - time.Since(start)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
