package metadata

import (
	"fmt"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

func TestCheckSet(t *testing.T) {
	full := map[string][]byte{}
	for i := range MaxKeys {
		full[fmt.Sprintf("k%03d", i)] = []byte("v")
	}
	big := map[string][]byte{}
	for i := range 3 {
		big[fmt.Sprintf("k%d", i)] = make([]byte, MaxValue)
	}
	// 3 keys of 2 bytes, 3 values of MaxValue: room for MaxTotal - that.
	room := MaxTotal - 3*(2+MaxValue)
	for _, tc := range []struct {
		name    string
		current map[string][]byte
		key     string
		value   []byte
		kind    failure.Kind
	}{
		{"ok/first key", nil, "tier", []byte("gold"), 0},
		{"fail/empty key", nil, "", nil, failure.KindInvalidArgument},
		{"fail/value too long", nil, "big", make([]byte, MaxValue+1), failure.KindInvalidArgument},
		{"ok/replacing a key of a full object", full, "k042", []byte("w"), 0},
		{"fail/one key too many", full, "another", []byte("v"), failure.KindFailedPrecondition},
		{"ok/up to the total size", big, "k3", make([]byte, room-2), 0},
		{"fail/one byte above the total size", big, "k3", make([]byte, room-1), failure.KindFailedPrecondition},
		{"ok/replacing a value counts the new one", big, "k0", make([]byte, MaxValue), 0},
		{"ok/shrinking a value", big, "k0", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSet(tc.current, tc.key, tc.value)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("CheckSet = %v", err)
				}
				return
			}
			if !failure.Is(err, tc.kind) {
				t.Fatalf("CheckSet = %v, want %s", err, tc.kind)
			}
		})
	}
	err := CheckSet(full, "another", nil)
	if !strings.Contains(err.Error(), "at most 100 metadata keys") {
		t.Fatalf("error %q does not name the limit", err)
	}
}
