// Package metadata holds the rules for the free key/value metadata that
// organizations and users carry: keys of 1 to 200 bytes, values of at most
// 64 KiB, so that one object's metadata cannot grow the event log or the
// read models without bound.
package metadata

import "github.com/castellan-iam/castellan/internal/failure"

// The limits.
const (
	MaxKey   = 200
	MaxValue = 64 << 10
)

// Check validates a key and its value, naming the offending one.
func Check(key string, value []byte) error {
	if key == "" || len(key) > MaxKey {
		return failure.InvalidArgument("key", "a metadata key has 1 to %d bytes", MaxKey)
	}
	if len(value) > MaxValue {
		return failure.InvalidArgument("value", "a metadata value has at most %d bytes", MaxValue)
	}
	return nil
}
