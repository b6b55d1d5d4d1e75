package user

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/password"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// TestSearchTraitWithinOrganization: a trait equality within an
// organization, read from one index range (user_traits_org_login,
// user_traits_org_created), finds exactly the organization's users holding
// the value — created, imported, with traits changed, renamed, locked or
// deleted — in every order, page by page, with the right total, on each
// backend.
func TestSearchTraitWithinOrganization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db, store := openUserStore(t, src, eventstore.SystemEditor, "o1", "o2")
		if _, err := usertype.NewCommands(store).Create(ctx, admin, inst, "employee", []byte(employee)); err != nil {
			t.Fatal(err)
		}
		users := NewCommands(store, password.NewHasher(password.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 2))

		// What the read model should hold, by user id.
		type member struct {
			login, org string
			band       int
			created    int64
			locked     bool
		}
		members := map[string]*member{}
		newEmployee := func(i int) New {
			o := "o1"
			if i%3 == 0 {
				o = "o2"
			}
			return New{OrgID: o, Type: "employee", LoginName: fmt.Sprintf("emp%02d", i),
				Traits: json.RawMessage(fmt.Sprintf(`{"employee_id": "E%04d", "band": %d}`, i, i%2+1))}
		}
		for i := range 24 {
			n := newEmployee(i)
			id, err := users.Create(ctx, admin, inst, n)
			if err != nil {
				t.Fatal(err)
			}
			members[id] = &member{login: n.LoginName, org: n.OrgID, band: i%2 + 1}
		}
		var imports []ImportUser
		for i := 24; i < 36; i++ {
			imports = append(imports, ImportUser{New: newEmployee(i)})
		}
		res, err := users.Import(ctx, admin, inst, imports, ImportOptions{BatchSize: 5})
		if err != nil || res.Imported != len(imports) {
			t.Fatalf("import: %d of %d, %v %v", res.Imported, len(imports), err, res.Failed)
		}
		for i, id := range res.IDs {
			members[id] = &member{login: imports[i].LoginName, org: imports[i].OrgID, band: (24+i)%2 + 1}
		}
		byLogin := func(login string) string {
			for id, m := range members {
				if m.login == login {
					return id
				}
			}
			t.Fatalf("no user %s", login)
			return ""
		}
		// Traits changed, a name changed, a user locked, one deleted.
		if err := users.Update(ctx, admin, inst, byLogin("emp04"), userschema.Admin, Patch{Traits: json.RawMessage(`{"band": 2}`)}); err != nil {
			t.Fatal(err)
		}
		members[byLogin("emp04")].band = 2
		if err := users.Update(ctx, admin, inst, byLogin("emp07"), userschema.Admin, Patch{Traits: json.RawMessage(`{"band": 1}`)}); err != nil {
			t.Fatal(err)
		}
		members[byLogin("emp07")].band = 1
		renamed, name := byLogin("emp29"), "aaron"
		if err := users.Update(ctx, admin, inst, renamed, userschema.Admin, Patch{LoginName: &name}); err != nil {
			t.Fatal(err)
		}
		members[renamed].login = name
		if err := users.Lock(ctx, admin, inst, byLogin("emp13")); err != nil {
			t.Fatal(err)
		}
		members[byLogin("emp13")].locked = true
		deleted := byLogin("emp11")
		if err := users.Delete(ctx, admin, inst, deleted); err != nil {
			t.Fatal(err)
		}
		delete(members, deleted)
		for id, m := range members {
			u, err := Get(ctx, db, inst, id, userschema.Admin)
			if err != nil {
				t.Fatal(err)
			}
			m.created = u.CreatedAt.UnixMicro()
		}

		band2 := []TraitFilter{{Pointer: "/band", Value: "2"}}
		for _, tc := range []struct {
			name  string
			s     Search
			match func(m *member) bool
		}{
			{"trait in o1", Search{OrgID: "o1", Traits: band2}, func(m *member) bool { return m.org == "o1" && m.band == 2 }},
			{"trait in o2", Search{OrgID: "o2", Traits: band2}, func(m *member) bool { return m.org == "o2" && m.band == 2 }},
			{"trait in an organization without users", Search{OrgID: "o3", Traits: band2}, func(m *member) bool { return false }},
			{"trait, organization and login name prefix", Search{OrgID: "o1", Traits: band2, LoginNamePrefix: "EMP1"},
				func(m *member) bool { return m.org == "o1" && m.band == 2 && strings.HasPrefix(m.login, "emp1") }},
			{"trait, organization and state", Search{OrgID: "o1", Traits: band2, State: StateActive},
				func(m *member) bool { return m.org == "o1" && m.band == 2 && !m.locked }},
			{"two traits and organization", Search{OrgID: "o1", Traits: append(slices.Clone(band2), TraitFilter{Pointer: "/employee_id", Value: "E0005"})},
				func(m *member) bool { return m.org == "o1" && m.band == 2 && m.login == "emp05" }},
		} {
			for _, order := range []struct {
				sortBy string
				desc   bool
			}{{"loginName", false}, {"loginName", true}, {"createdAt", false}, {"createdAt", true}} {
				s := tc.s
				s.SortBy, s.Descending, s.Limit = order.sortBy, order.desc, 2
				t.Run(fmt.Sprintf("%s/%s/desc=%t", tc.name, order.sortBy, order.desc), func(t *testing.T) {
					var want []string
					for id, m := range members {
						if tc.match(m) {
							want = append(want, id)
						}
					}
					slices.SortFunc(want, func(a, b string) int {
						c := strings.Compare(members[a].login, members[b].login)
						if order.sortBy == "createdAt" {
							c = cmp.Or(cmp.Compare(members[a].created, members[b].created), strings.Compare(a, b))
						}
						if order.desc {
							c = -c
						}
						return c
					})
					p, err := planSearch(ctx, db, nil, inst, s, order.sortBy == "loginName")
					if err != nil {
						t.Fatal(err)
					}
					if index := map[string]string{"loginName": "user_traits_org_login", "createdAt": "user_traits_org_created"}[order.sortBy]; p.drive.index != index {
						t.Fatalf("plan reads %s, want %s", p.drive.index, index)
					}
					for _, sr := range []*Searcher{{db: db}, NewSearcher(db, testRing(t, 1))} {
						var (
							got   []string
							first Page
						)
						walk := s
						for pages := 0; ; pages++ {
							page, err := sr.Find(ctx, inst, walk, userschema.Admin)
							if err != nil {
								t.Fatal(err)
							}
							// Counted in the index when it answers every
							// filter; else what the first page found (a
							// lower bound, or exact). Find's later pages
							// count anew, a Searcher's carry the first's.
							exact := len(p.residual) == 0 || !page.TotalIsLowerBound
							if (pages == 0 || len(p.residual) == 0 || sr.keys != nil) && (exact && page.Total != len(want) || page.Total > len(want)) {
								t.Fatalf("page %d: total %d (lower bound %t), want %d", pages, page.Total, page.TotalIsLowerBound, len(want))
							}
							if pages == 0 {
								first = page
							} else if sr.keys != nil && (page.Total != first.Total || page.TotalIsLowerBound != first.TotalIsLowerBound) {
								t.Fatalf("page %d: total %d (lower bound %t), the first page's %d (%t)", pages, page.Total, page.TotalIsLowerBound, first.Total, first.TotalIsLowerBound)
							}
							for _, u := range page.Users {
								got = append(got, u.ID)
							}
							if page.NextCursor == "" {
								break
							}
							if pages > len(members) {
								t.Fatal("pagination does not end")
							}
							walk.Cursor = page.NextCursor
						}
						if !slices.Equal(got, want) {
							t.Fatalf("found %v, want %v", got, want)
						}
					}
				})
			}
		}
	})
}

// TestTraitsOrganizationMigration: user/0005_traits_org gives the
// user_traits rows written before it their users' organizations.
func TestTraitsOrganizationMigration(t *testing.T) {
	before := slices.IndexFunc(Migrations, func(m database.Migration) bool { return m.Name == "user/0005_traits_org" })
	if before < 0 {
		t.Fatal("no migration user/0005_traits_org")
	}
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := src.Open(t, Migrations[:before])
		if err := db.InTx(ctx, func(tx *database.Tx) error {
			for i, o := range []string{"o1", "o2", "o1"} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO users (instance_id, id, org_id, schema_type, login_name, login_name_lower,
	email, state, password_hash, password_change_required, created_at, sequence) VALUES ($1, $2, $3, 'human', $4, $4, '', 'active', '', $5, $6, 1)`,
					inst, fmt.Sprintf("u%d", i), o, fmt.Sprintf("user%d", i), false, i); err != nil {
					return err
				}
				for _, ptr := range []string{"/a", "/b"} {
					if _, err := tx.ExecContext(ctx, `INSERT INTO user_traits (instance_id, user_id, pointer, value, login_name_lower, created_at)
VALUES ($1, $2, $3, 'v', $4, $5)`, inst, fmt.Sprintf("u%d", i), ptr, fmt.Sprintf("user%d", i), i); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		db = src.Open(t, Migrations)
		rows, err := db.Reader().QueryContext(ctx, `SELECT user_id, pointer, org_id FROM user_traits ORDER BY user_id, pointer`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var id, ptr, o string
			if err := rows.Scan(&id, &ptr, &o); err != nil {
				t.Fatal(err)
			}
			got = append(got, id+ptr+"="+o)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"u0/a=o1", "u0/b=o1", "u1/a=o2", "u1/b=o2", "u2/a=o1", "u2/b=o1"}; !slices.Equal(got, want) {
			t.Fatalf("user_traits after the migration: %v, want %v", got, want)
		}
	})
}
