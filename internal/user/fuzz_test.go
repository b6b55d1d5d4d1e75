package user

import (
	"encoding/base64"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Search cursors and filters come from the network: whatever they hold, a
// search answers with a page or an invalid-argument error, never with an
// internal error or a panic.
func FuzzFindCursor(f *testing.F) {
	fx := setup(f)
	for _, s := range []string{"", "garbage", base64.RawURLEncoding.EncodeToString([]byte(`{"k":"ada","i":"x","t":3}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"k":"not-a-number","i":"x"}`))} {
		f.Add(s, "loginName", "/profile/x")
		f.Add(s, "createdAt", "")
	}
	f.Fuzz(func(t *testing.T, cursor, sortBy, pointer string) {
		s := Search{Cursor: cursor, SortBy: sortBy}
		if pointer != "" {
			s.Traits = []TraitFilter{{Pointer: pointer, Value: cursor, Prefix: len(cursor)%2 == 0}}
		}
		if _, err := Find(ctx, fx.DB(), inst, s, userschema.Admin); err != nil && !failure.Is(err, failure.KindInvalidArgument) {
			t.Fatalf("Find(cursor %q, sort %q, pointer %q): %v", cursor, sortBy, pointer, err)
		}
	})
}
