// Package metadata holds the rules for the free key/value metadata that
// organizations and users carry: keys of 1 to 200 bytes, values of at most
// 64 KiB, at most 100 keys and 256 KiB of keys and values together per
// object, so that one object's metadata cannot grow the event log, the read
// models or the state every command of the object replays without bound.
//
// The owners of metadata (packages org and user) call CheckSet with the
// object's current metadata before appending a change; the limits hold for
// the object as a whole, not only for one value.
package metadata

import "github.com/castellan-iam/castellan/internal/failure"

// The limits.
const (
	MaxKey   = 200
	MaxValue = 64 << 10
	// MaxKeys is how many keys one object holds at most.
	MaxKeys = 100
	// MaxTotal bounds the bytes of all keys and values of one object.
	MaxTotal = 256 << 10
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

// CheckSet validates setting key to value on an object whose metadata is
// current: the key and value as Check does, then the object's number of
// keys and total size as they would be after the change. Replacing a value
// counts the new one instead of the old. Over a limit it is
// failure.FailedPrecondition: the same request succeeds once other keys
// are removed.
func CheckSet(current map[string][]byte, key string, value []byte) error {
	if err := Check(key, value); err != nil {
		return err
	}
	keys, total := len(current), 0
	for k, v := range current {
		total += len(k) + len(v)
	}
	if old, ok := current[key]; ok {
		total -= len(key) + len(old)
	} else {
		keys++
	}
	total += len(key) + len(value)
	if keys > MaxKeys {
		return failure.FailedPrecondition("an organization or user holds at most %d metadata keys: remove one before adding %q", MaxKeys, key)
	}
	if total > MaxTotal {
		return failure.FailedPrecondition("the metadata keys and values of an organization or user hold at most %d bytes together; with %q they would hold %d", MaxTotal, key, total)
	}
	return nil
}
