package org

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventstore/eventstoretest"
	"github.com/castellan-iam/castellan/internal/failure"
)

// listAll pages through q with pages of size and returns the names, and
// the total size every page reported.
func listAll(t *testing.T, db *database.DB, q ListQuery) ([]string, int) {
	t.Helper()
	var names []string
	total := -1
	for range 100 {
		page, err := List(ctx, db, inst, q)
		if err != nil {
			t.Fatal(err)
		}
		if total >= 0 && page.TotalSize != total {
			t.Fatalf("total size changed between pages: %d, then %d", total, page.TotalSize)
		}
		total = page.TotalSize
		for _, o := range page.Orgs {
			names = append(names, o.Name)
		}
		if page.NextPageToken == "" {
			return names, total
		}
		q.PageToken = page.NextPageToken
	}
	t.Fatal("no last page")
	return nil, 0
}

func TestListPagesByNameThenID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, append(slices.Clone(eventstore.Migrations), Migrations...))
		r := eventstore.NewRegistry()
		RegisterEvents(r)
		store, err := eventstore.New(db, r, []eventstore.Projection{Projection{}}, eventstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := NewCommands(store, nil)
		ids := map[string]string{}
		for _, name := range []string{"b2", "a1", "b1", "c1", "b3", "gone", "a2"} {
			if ids[name], err = c.Create(ctx, editor, inst, name); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Deactivate(ctx, editor, inst, ids["b2"]); err != nil {
			t.Fatal(err)
		}
		if err := c.Remove(ctx, editor, inst, ids["gone"]); err != nil {
			t.Fatal(err)
		}
		// The removed organization's row keeps its name; a new one takes it.
		if ids["gone again"], err = c.Create(ctx, editor, inst, "gone"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rename(ctx, editor, inst, ids["c1"], "Z"); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			name  string
			q     ListQuery
			want  string
			total int
		}{
			{"ok/all, small pages", ListQuery{PageSize: 2}, "Z a1 a2 b1 b2 b3 gone", 7},
			{"ok/one page", ListQuery{}, "Z a1 a2 b1 b2 b3 gone", 7},
			{"ok/prefix", ListQuery{NamePrefix: "b", PageSize: 1}, "b1 b2 b3", 3},
			{"ok/prefix is case-sensitive", ListQuery{NamePrefix: "B"}, "", 0},
			{"ok/active", ListQuery{State: StateActive, PageSize: 3}, "Z a1 a2 b1 b3 gone", 6},
			{"ok/inactive", ListQuery{State: StateInactive}, "b2", 1},
			{"ok/readable ones", ListQuery{OrgIDs: []string{ids["a2"], ids["b3"], ids["gone"]}, PageSize: 1}, "a2 b3", 2},
			{"ok/removed one with a reused name", ListQuery{NamePrefix: "gone"}, "gone", 1},
			{"ok/none readable", ListQuery{OrgIDs: []string{}}, "", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				names, total := listAll(t, db, tc.q)
				if got := strings.Join(names, " "); got != tc.want || total != tc.total {
					t.Fatalf("listed %q (total %d), want %q (total %d)", got, total, tc.want, tc.total)
				}
			})
		}

		for _, tc := range []struct {
			name  string
			q     ListQuery
			field string
		}{
			{"fail/page size over 1000", ListQuery{PageSize: 1001}, "pageSize"},
			{"fail/negative page size", ListQuery{PageSize: -1}, "pageSize"},
			{"fail/removed is not a listed state", ListQuery{State: StateRemoved}, "state"},
			{"fail/forged token", ListQuery{PageToken: "e30"}, "pageToken"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := List(ctx, db, inst, tc.q)
				var fe *failure.Error
				if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field {
					t.Fatalf("got %v, want invalid %s", err, tc.field)
				}
			})
		}
	})
}

// TestListUsesTheNameIndex guards the query plan on SQLite: pages start at
// the cursor on orgs_name instead of scanning the instance's organizations.
func TestListUsesTheNameIndex(t *testing.T) {
	s, _, _ := setup(t)
	q := `EXPLAIN QUERY PLAN SELECT id FROM orgs WHERE instance_id = $1 AND state <> $2 AND name >= $3 AND (name > $3 OR id > $4) ORDER BY name, id LIMIT 3`
	rows, err := s.DB().Reader().QueryContext(ctx, q, inst, "removed", "b", "x")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := fmt.Sprint(plan); !strings.Contains(p, "USING INDEX orgs_name (instance_id=? AND name>?)") {
		t.Fatalf("plan: %s", p)
	}
}

// Page tokens come from the network: a list answers with a page or an
// invalid-argument error, never an internal error or a panic. A token
// holds only a position, so whatever it says, a page lists only
// organizations of its instance that the query selects, and its total is
// the query's count.
func FuzzListPageToken(f *testing.F) {
	s := eventstoretest.New(f, "inst-1", RegisterEvents, Migrations, Projection{})
	var appends []eventstore.Append
	for i, name := range []string{"Acme", "acme-2", "Beta", "b", "Zed"} {
		a, err := Creation("inst-1", fmt.Sprintf("o%d", i), name)
		if err != nil {
			f.Fatal(err)
		}
		appends = append(appends, a)
	}
	other, err := Creation("inst-2", "x1", "Acme")
	if err != nil {
		f.Fatal(err)
	}
	s.Given(f, append(appends, other)...)
	readable := []string{"o0", "o3", "x1"}
	f.Add("", "Ac", false)
	f.Add("eyJuIjoiQSIsImkiOiJ4In0", "", true)
	f.Add("!!!", "\xff", false)
	for _, q := range []ListQuery{{PageSize: 1}, {PageSize: 2, OrgIDs: readable}, {PageSize: 1, NamePrefix: "A"}} {
		page, err := List(context.Background(), s.DB(), "inst-1", q)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(page.NextPageToken, q.NamePrefix, q.OrgIDs != nil)
	}
	f.Fuzz(func(t *testing.T, token, prefix string, onlyReadable bool) {
		q := ListQuery{PageToken: token, NamePrefix: prefix, PageSize: 2}
		if onlyReadable {
			q.OrgIDs = readable
		}
		page, err := List(context.Background(), s.DB(), "inst-1", q)
		if err != nil {
			if !failure.Is(err, failure.KindInvalidArgument) {
				t.Fatalf("List(token %q, prefix %q): %v", token, prefix, err)
			}
			return
		}
		first := q
		first.PageToken = ""
		if want, err := List(context.Background(), s.DB(), "inst-1", first); err != nil || page.TotalSize != want.TotalSize {
			t.Fatalf("List(token %q, prefix %q): total %d, the query counts %d (%v)", token, prefix, page.TotalSize, want.TotalSize, err)
		}
		for _, o := range page.Orgs {
			if o.ID == "x1" || !strings.HasPrefix(o.Name, prefix) || (onlyReadable && !slices.Contains(readable, o.ID)) {
				t.Fatalf("List(token %q, prefix %q, readable %v) lists %s %q", token, prefix, onlyReadable, o.ID, o.Name)
			}
		}
	})
}
