// Package pace makes answers that must not tell two cases apart take
// alike: a sign-in for a known user and for nobody, a recovery of an
// account and of none. The work of the two cases differs however it is
// kept alike (a known account is read, its failure recorded), and on a fast
// machine that difference shows in the time of the answer. A Pacer learns
// the times of the slower case's answers and holds every answer until the
// 90th percentile of the recent ones has passed: the time of the fast case
// and of most of the slow one are then the same. An attacker gains
// nothing from it; a person who mistyped waits a few milliseconds more.
package pace

import (
	"context"
	"slices"
	"sync"
	"time"
)

// window is how many recent answers a Pacer remembers.
const window = 64

// Pacer holds answers to the pace of the recent slow ones. The zero value
// is ready; it is safe for concurrent use.
type Pacer struct {
	mu     sync.Mutex
	recent []time.Duration // newest last
}

// Record adds the time of an answer of the slower case.
func (p *Pacer) Record(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent = append(p.recent, d)
	if len(p.recent) > window {
		p.recent = p.recent[len(p.recent)-window:]
	}
}

// Floor is the time an answer should take: the 90th percentile of the
// recent answers of the slower case, or 0 before there are any.
func (p *Pacer) Floor() time.Duration {
	p.mu.Lock()
	sorted := slices.Clone(p.recent)
	p.mu.Unlock()
	if len(sorted) == 0 {
		return 0
	}
	slices.Sort(sorted)
	return sorted[len(sorted)*9/10]
}

// Wait sleeps until Floor has passed since start, or ctx ends.
func (p *Pacer) Wait(ctx context.Context, start time.Time) {
	d := p.Floor() - time.Since(start)
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

// Answer ends the timed part of an answer begun at start: an answer of the
// slower case (slow) records its time first; every answer waits.
func (p *Pacer) Answer(ctx context.Context, start time.Time, slow bool) {
	if slow {
		p.Record(time.Since(start))
	}
	p.Wait(ctx, start)
}
