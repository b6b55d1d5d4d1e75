package eventstore_test

import (
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
)

// A count read under a Freshness may be used until a local append closes
// the channel taken before the read, or until maxStale has passed; a
// count never read is never fresh.
func TestFreshness(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	changed := make(chan struct{})
	read := eventstore.ReadingCount(func() <-chan struct{} { return changed }, now)
	for _, tc := range []struct {
		name string
		f    eventstore.Freshness
		at   time.Time
		want bool
	}{
		{"never read", eventstore.Freshness{}, now, false},
		{"just read", read, now, true},
		{"within maxStale", read, now.Add(time.Second - 1), true},
		{"at maxStale", read, now.Add(time.Second), false},
	} {
		if got := tc.f.Fresh(tc.at, time.Second); got != tc.want {
			t.Errorf("%s: fresh %t, want %t", tc.name, got, tc.want)
		}
	}
	close(changed)
	if read.Fresh(now, time.Second) {
		t.Error("fresh after a local append")
	}
	if eventstore.ReadingCount(func() <-chan struct{} { return make(chan struct{}) }, now).Fresh(now, 0) {
		t.Error("fresh with maxStale 0")
	}
}
