package user

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Search cursors and filters come from the network: whatever they hold, a
// search answers with a page or an invalid-argument error (permission
// denied for a trait the role may not read), never with an internal error
// or a panic — and a cursor cannot change the total: a page reports what
// the search's first page counted.
func FuzzFindCursor(f *testing.F) {
	fx := setup(f)
	for i := range 7 {
		if _, err := fx.users.Create(ctx, admin, inst, New{OrgID: "o1", Type: "human", LoginName: fmt.Sprintf("ada%d", i)}); err != nil {
			f.Fatal(err)
		}
	}
	sr := NewSearcher(fx.DB(), testRing(f, 1))
	finds := map[string]func(Search) (Page, error){
		"Searcher": func(s Search) (Page, error) { return sr.Find(ctx, inst, s, userschema.Admin) },
		"Find":     func(s Search) (Page, error) { return Find(ctx, fx.DB(), inst, s, userschema.Admin) },
	}
	seeds := []string{"", "garbage", "a.b", base64.RawURLEncoding.EncodeToString([]byte(`{"k":"ada","i":"x","t":3}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"k":"not-a-number","i":"x"}`))}
	for _, sortBy := range []string{"loginName", "createdAt"} {
		for _, find := range finds {
			p, err := find(Search{SortBy: sortBy, Limit: 2})
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, p.NextCursor)
		}
	}
	for _, s := range seeds {
		f.Add(s, "loginName", "/profile/given_name")
		f.Add(s, "createdAt", "")
		f.Add(s, "loginName", "")
	}
	f.Fuzz(func(t *testing.T, cursor, sortBy, pointer string) {
		s := Search{Cursor: cursor, SortBy: sortBy, Limit: 2}
		if pointer != "" {
			s.Traits = []TraitFilter{{Pointer: pointer, Value: cursor, Prefix: len(cursor)%2 == 0}}
		}
		for name, find := range finds {
			p, err := find(s)
			if err != nil {
				if !failure.Is(err, failure.KindInvalidArgument) && !failure.Is(err, failure.KindPermissionDenied) {
					t.Fatalf("%s(cursor %q, sort %q, pointer %q): %v", name, cursor, sortBy, pointer, err)
				}
				continue
			}
			first := s
			first.Cursor = ""
			if want, err := find(first); err != nil || p.Total != want.Total {
				t.Fatalf("%s(cursor %q, sort %q, pointer %q): total %d, the first page counts %d (%v)", name, cursor, sortBy, pointer, p.Total, want.Total, err)
			}
		}
	})
}
