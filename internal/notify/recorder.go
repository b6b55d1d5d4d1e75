package notify

import (
	"context"
	"slices"
	"sync"
)

// Recorder is an in-memory Notifier for tests of other packages: it keeps
// every message it is given, in order, and delivers nothing. It performs
// no validation. The zero value is ready to use and safe for concurrent
// use.
type Recorder struct {
	mu       sync.Mutex
	messages []Message
}

var _ Notifier = (*Recorder)(nil)

// Send records m.
func (r *Recorder) Send(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, m)
	return nil
}

// Last returns the latest message sent to to.
func (r *Recorder) Last(to string) (Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.messages) - 1; i >= 0; i-- {
		if r.messages[i].To == to {
			return r.messages[i], true
		}
	}
	return Message{}, false
}

// Messages returns all recorded messages, oldest first.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.messages)
}
