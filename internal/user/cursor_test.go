package user

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/userschema"
)

func testRing(t testing.TB, current byte, retired ...byte) *keyring.Ring {
	t.Helper()
	key := func(b byte) keyring.Key {
		return keyring.Key{ID: fmt.Sprintf("k%d", b), Secret: []byte(strings.Repeat(string(rune('A'+b)), keyring.SecretSize))}
	}
	var old []keyring.Key
	for _, b := range retired {
		old = append(old, key(b))
	}
	r, err := keyring.New(key(current), old...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// forgeTotal rewrites the total in a cursor's payload and keeps whatever
// follows it (the MAC of the original payload).
func forgeTotal(t *testing.T, c string, total int) string {
	t.Helper()
	payload, rest, signed := strings.Cut(c, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["t"] = total
	raw, _ = json.Marshal(m)
	forged := base64.RawURLEncoding.EncodeToString(raw)
	if signed {
		forged += "." + rest
	}
	return forged
}

func TestSearchCursorsCannotForgeTotals(t *testing.T) {
	f := setup(t)
	for i := range 15 {
		org := "o1"
		if i%5 == 0 {
			org = "o2"
		}
		f.create(t, New{OrgID: org, Type: "human", LoginName: fmt.Sprintf("user%02d", i)})
	}
	search := Search{OrgID: "o1", Limit: 4}

	// Without a key ring a cursor carries no total: every page counts.
	first, err := Find(ctx, f.DB(), inst, search, userschema.Admin)
	if err != nil || first.Total != 12 || first.NextCursor == "" {
		t.Fatalf("first page: total %d, cursor %q, %v", first.Total, first.NextCursor, err)
	}
	next := search
	next.Cursor = forgeTotal(t, first.NextCursor, 999)
	if p, err := Find(ctx, f.DB(), inst, next, userschema.Admin); err != nil || p.Total != 12 || p.Users[0].LoginName != "user06" {
		t.Fatalf("a forged total in an unauthenticated cursor: total %d, %v", p.Total, err)
	}

	// A Searcher's cursors carry the first page's total, authenticated.
	ring := testRing(t, 1)
	sr := NewSearcher(f.DB(), ring)
	first, err = sr.Find(ctx, inst, search, userschema.Admin)
	if err != nil || first.Total != 12 || !strings.Contains(first.NextCursor, ".") {
		t.Fatalf("first page: total %d, cursor %q, %v", first.Total, first.NextCursor, err)
	}
	f.create(t, New{OrgID: "o1", Type: "human", LoginName: "user99"})
	next.Cursor = first.NextCursor
	p, err := sr.Find(ctx, inst, next, userschema.Admin)
	if err != nil || p.Total != 12 || p.Users[0].LoginName != "user06" {
		t.Fatalf("second page: total %d (the first page's count is carried, not recounted), %v", p.Total, err)
	}
	longer := next
	longer.Limit = 10
	if p, err := sr.Find(ctx, inst, longer, userschema.Admin); err != nil || p.Total != 12 || len(p.Users) != 9 {
		t.Fatalf("another page size on the next page: %d users, total %d, %v", len(p.Users), p.Total, err)
	}
	if p, err := Find(ctx, f.DB(), inst, next, userschema.Admin); err != nil || p.Total != 13 {
		t.Fatalf("a Searcher's cursor given to Find: total %d, %v, want a fresh count", p.Total, err)
	}

	payload, _, _ := strings.Cut(first.NextCursor, ".")
	for _, tc := range []struct {
		name     string
		sr       *Searcher
		instance string
		s        Search
	}{
		{"fail/forged total", sr, inst, with(search, forgeTotal(t, first.NextCursor, 999))},
		{"fail/MAC removed", sr, inst, with(search, payload)},
		{"fail/cursor without a MAC from Find", sr, inst, with(search, forgeTotal(t, payload, 12))},
		{"fail/another organization", sr, inst, with(Search{OrgID: "o2", Limit: 4}, first.NextCursor)},
		{"fail/no organization", sr, inst, with(Search{Limit: 4}, first.NextCursor)},
		{"fail/a prefix added", sr, inst, with(Search{OrgID: "o1", LoginNamePrefix: "user", Limit: 4}, first.NextCursor)},
		{"fail/another order", sr, inst, with(Search{OrgID: "o1", Descending: true, Limit: 4}, first.NextCursor)},
		{"fail/another instance", sr, "inst-2", with(search, first.NextCursor)},
		{"fail/a key ring without the cursor's key", NewSearcher(f.DB(), testRing(t, 2)), inst, with(search, first.NextCursor)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sr.Find(ctx, tc.instance, tc.s, userschema.Admin)
			if fe := wantKind(t, err, failure.KindInvalidArgument); fe.Field != "cursor" {
				t.Fatalf("error names %q", fe.Field)
			}
		})
	}
	// After a rotation the retired key still opens the cursors it made.
	if p, err := NewSearcher(f.DB(), testRing(t, 2, 1)).Find(ctx, inst, next, userschema.Admin); err != nil || p.Total != 12 {
		t.Fatalf("a cursor of the retired key: total %d, %v", p.Total, err)
	}
	// Equal filters in other spellings are the same search.
	same := Search{OrgID: "o1", LoginNamePrefix: "ＵＳＥＲ", Limit: 4}
	p, err = sr.Find(ctx, inst, same, userschema.Admin)
	if err != nil {
		t.Fatal(err)
	}
	same.LoginNamePrefix, same.Cursor = "user", p.NextCursor
	if _, err := sr.Find(ctx, inst, same, userschema.Admin); err != nil {
		t.Fatalf("the same prefix in another width: %v", err)
	}
}

func with(s Search, cursor string) Search {
	s.Cursor = cursor
	return s
}
