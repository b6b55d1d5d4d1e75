package user

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// TestSearchCannotProbeHiddenFields: a prefix search on a field the
// searching role may not read would recover its value a character at a
// time from which users match. Filters on such fields are refused, naming
// the filter.
func TestSearchCannotProbeHiddenFields(t *testing.T) {
	f := setup(t)
	const member = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "permission": {"self": "rw", "admin": "rw"},
  "properties": {
    "nickname": {"type": "string", "search": true},
    "secret_answer": {"type": "string", "permission": {"self": "rw", "admin": ""}, "search": true}
  }
}`
	mt, err := f.types.Create(ctx, admin, inst, "member", []byte(member))
	if err != nil {
		t.Fatal(err)
	}
	f.create(t, New{OrgID: "o1", Type: "member", LoginName: "mallory-target", Traits: json.RawMessage(`{"nickname": "m", "secret_answer": "rosebud"}`)})

	for _, tc := range []struct {
		name   string
		search Search
		role   userschema.Role
		field  string // "" when allowed
	}{
		{"fail/admin prefix-probes a self-only field", Search{Traits: []TraitFilter{{Pointer: "/secret_answer", Value: "r", Prefix: true}}}, userschema.Admin, "traits[0].pointer"},
		{"fail/admin matches a self-only field exactly", Search{Type: "member", Traits: []TraitFilter{{Pointer: "/secret_answer", Value: "rosebud"}}}, userschema.Admin, "traits[0].pointer"},
		{"fail/the second filter is named", Search{Traits: []TraitFilter{{Pointer: "/nickname", Value: "m"}, {Pointer: "/secret_answer", Value: "r", Prefix: true}}}, userschema.Admin, "traits[1].pointer"},
		{"fail/self may not search an admin-only note of another type", Search{Traits: []TraitFilter{{Pointer: "/note", Value: "x"}}}, userschema.Self, "traits[0].pointer"},
		{"ok/admin searches a readable field", Search{Type: "member", Traits: []TraitFilter{{Pointer: "/nickname", Value: "m"}}}, userschema.Admin, ""},
		{"ok/admin searches the employee note in that type", Search{Type: "employee", Traits: []TraitFilter{{Pointer: "/note", Value: "x"}}}, userschema.Admin, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := Find(ctx, f.DB(), inst, tc.search, tc.role)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fe := wantKind(t, err, failure.KindPermissionDenied)
			if fe.Field != tc.field || page.Total != 0 {
				t.Fatalf("field %q, total %d; want field %q", fe.Field, page.Total, tc.field)
			}
		})
	}

	// A later revision that hides a field keeps it unsearchable while older
	// users still hold it, and one that reveals it does not reveal older ones.
	v2 := `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "permission": {"self": "rw", "admin": "rw"},
  "properties": {"nickname": {"type": "string", "search": true}, "secret_answer": {"type": "string", "search": true}}}`
	if _, err := f.types.Update(ctx, admin, inst, mt, []byte(v2)); err != nil {
		t.Fatal(err)
	}
	_, err = Find(ctx, f.DB(), inst, Search{Type: "member", Traits: []TraitFilter{{Pointer: "/secret_answer", Value: "r", Prefix: true}}}, userschema.Admin)
	wantKind(t, err, failure.KindPermissionDenied)
}

// TestTypeRevisionIndexesSearchFields: a revision that marks a field
// "search" indexes it for the users written before, at once; one that
// unmarks it drops it, and filters on it are refused again.
func TestTypeRevisionIndexesSearchFields(t *testing.T) {
	f := setup(t)
	f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "ed", Traits: json.RawMessage(`{"employee_id": "E0001", "nickname": "Ed"}`)})
	search := Search{Type: "employee", Traits: []TraitFilter{{Pointer: "/nickname", Value: "Ed"}}}
	if _, err := Find(ctx, f.DB(), inst, search, userschema.Admin); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("search by an unmarked field: %v", err)
	}
	emp, _ := f.markNickname(t)
	page, err := Find(ctx, f.DB(), inst, search, userschema.Admin)
	if err != nil || len(page.Users) != 1 || page.Users[0].LoginName != "ed" {
		t.Fatalf("after marking: %v %v", page.Users, err)
	}
	// The rows carry the users' organizations.
	for o, want := range map[string]int{"o1": 1, "o2": 0} {
		within := search
		within.OrgID = o
		if page, err := Find(ctx, f.DB(), inst, within, userschema.Admin); err != nil || len(page.Users) != want || page.Total != want {
			t.Fatalf("after marking, within %s: %v (total %d) %v", o, page.Users, page.Total, err)
		}
	}
	if _, err := f.types.Update(ctx, admin, inst, emp.ID, []byte(employee)); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(ctx, f.DB(), inst, search, userschema.Admin); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("search after unmarking: %v", err)
	}
	var rows int
	if err := f.DB().Reader().QueryRowContext(ctx, `SELECT count(*) FROM user_traits WHERE pointer = '/nickname'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d rows of an unmarked field (%v)", rows, err)
	}
}

// TestSearchFieldsCacheFollowsRevisions: a cached check of a trait
// search's fields sees a revision made through this process's store at
// the very next search; one made by another replica (whose appends do not
// close this store's channel) within maxStale, and never with a stale
// count. The field becomes unsearchable, then searchable again.
func TestSearchFieldsCacheFollowsRevisions(t *testing.T) {
	f := setup(t)
	f.create(t, New{OrgID: "o1", Type: "employee", LoginName: "ed", Traits: json.RawMessage(`{"employee_id": "E0001", "nickname": "Ed"}`)})
	emp, marked := f.markNickname(t)
	nickname := Search{Type: "employee", Traits: []TraitFilter{{Pointer: "/nickname", Value: "Ed"}}}

	local := NewSearchCache(f.Store.Store.Changed, time.Hour)
	never := make(chan struct{}) // another replica's store: this one's appends do not close it
	now := time.Unix(1_000_000, 0)
	remote := NewSearchCache(func() <-chan struct{} { return never }, time.Second)
	remote.now = func() time.Time { return now }
	search := func(c *SearchCache) (Page, error) {
		return NewSearcher(f.DB(), nil).WithCache(c).Find(ctx, inst, nickname, userschema.Admin)
	}
	find := func(c *SearchCache) error {
		t.Helper()
		page, err := search(c)
		if err == nil && len(page.Users) != 1 {
			t.Fatalf("found %v", page.Users)
		}
		return err
	}
	for _, c := range []*SearchCache{local, remote} {
		if err := find(c); err != nil {
			t.Fatal(err)
		}
	}
	reads := func(c *SearchCache) int64 { return c.fields[inst].version }
	v := reads(local)

	if _, err := f.types.Update(ctx, admin, inst, emp.ID, []byte(employee)); err != nil {
		t.Fatal(err)
	}
	if err := find(local); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("this replica, next search after unmarking: %v", err)
	}
	if reads(local) != v+1 {
		t.Fatalf("count %d after one revision, want %d", reads(local), v+1)
	}
	// Within maxStale another replica still allows the filter (the
	// documented staleness); the field's rows are gone, so it finds nobody.
	if page, err := search(remote); err != nil || len(page.Users) != 0 {
		t.Fatalf("another replica within maxStale: %v %v", page.Users, err)
	}
	now = now.Add(time.Second)
	if err := find(remote); !failure.Is(err, failure.KindInvalidArgument) {
		t.Fatalf("another replica after maxStale: %v", err)
	}

	// Readable again and searchable: both see it the same way.
	if _, err := f.types.Update(ctx, admin, inst, emp.ID, []byte(marked)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	for _, c := range []*SearchCache{local, remote} {
		if err := find(c); err != nil {
			t.Fatal(err)
		}
	}
	// A rebuild of the read model replays the revisions: the count only
	// grows, so a cache that saw it never takes the rebuilt rows for its own.
	if _, err := f.Store.Store.Rebuild(ctx, Projection{}.Name()); err != nil {
		t.Fatal(err)
	}
	if got, err := searchVersion(ctx, f.DB(), inst); err != nil || got <= v+2 {
		t.Fatalf("count after rebuild %d (%v), want more than %d", got, err, v+2)
	}
}

// markNickname revises the employee type so that it indexes /nickname,
// returning the type and the revised schema.
func (f *fixture) markNickname(t *testing.T) (usertype.Type, string) {
	t.Helper()
	emp, err := usertype.ByName(ctx, f.DB(), inst, "employee")
	if err != nil {
		t.Fatal(err)
	}
	marked := strings.Replace(employee, `"nickname": {"type": "string",`, `"nickname": {"type": "string", "search": true,`, 1)
	if _, err := f.types.Update(ctx, admin, inst, emp.ID, []byte(marked)); err != nil {
		t.Fatal(err)
	}
	return emp, marked
}
