package user

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// planUsers is the size of the directory the plans are checked on: small
// enough to generate in a moment, large enough that PostgreSQL, which
// would rather scan a small table, plans as for a large one.
const planUsers = 20_000

// fillPlanDirectory writes planUsers users straight into the read model:
// 50 organizations of 400, one in 10 a machine, one in 100 locked, 200
// family names of 100 users each, 2 in each organization.
func fillPlanDirectory(t *testing.T, db *database.DB, schemaID string) {
	t.Helper()
	users := `INSERT INTO users (instance_id, id, org_id, schema_id, schema_type, schema_revision, login_name, login_name_lower, traits,
	email, email_lower, email_verified, phone, phone_verified, state, password_hash, password_change_required, created_at, changed_at, sequence, org_active)
SELECT $1, 'u' || n, 'org-' || (i % 50), $2, CASE WHEN i % 10 = 5 THEN 'machine' ELSE 'human' END, 1, 'user' || n, 'user' || n,
	'{"profile":{"family_name":"F' || ((i / 50) % 200) || '"}}', 'user' || n || '@example.com', 'user' || n || '@example.com', false, '', false,
	CASE WHEN i % 100 = 0 THEN 'locked' ELSE 'active' END, '', false, i * 1000, i * 1000, 1, true FROM s`
	traits := `INSERT INTO user_traits (instance_id, user_id, pointer, value, org_id, login_name_lower, created_at)
SELECT $1, 'u' || n, '/profile/family_name', 'F' || ((i / 50) % 200), 'org-' || (i % 50), 'user' || n, i * 1000 FROM s`
	series := fmt.Sprintf(`WITH RECURSIVE s0(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s0 WHERE i < %d),
	s(i, n) AS (SELECT i, substr('0000' || i, -5, 5) FROM s0) `, planUsers)
	if db.Dialect == database.Postgres {
		series = fmt.Sprintf(`WITH s(i, n) AS (SELECT i, lpad(i::text, 5, '0') FROM generate_series(1, %d) AS i) `, planUsers)
	}
	if err := db.InTx(ctx, func(tx *database.Tx) error {
		for _, q := range []string{users, traits} {
			stmt := series + q
			if db.Dialect == database.SQLite {
				// SQLite takes the WITH clause after INSERT … ( … ).
				head, rest, _ := strings.Cut(q, "\nSELECT ")
				stmt = head + "\n" + series + "SELECT " + rest
			}
			args := []any{inst, schemaID}
			if q == traits {
				args = args[:1]
			}
			if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestSearchPlans checks, on each backend, that every filter and sort
// order reads the index its plan names, and nothing else of size: no
// scan of a table, no index walked that the search did not choose, no
// sort of more than its candidates. It checks before any statistics
// (SQLite's, after PRAGMA optimize at start: none) and after ANALYZE.
func TestSearchPlans(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := openPlanDirectory(t, src)
		if db.Dialect == database.SQLite {
			// What a server that was running when its users arrived
			// has: PRAGMA optimize at start, on an empty directory. A
			// PostgreSQL server has autovacuum's statistics, or the
			// import's.
			if err := db.Optimize(ctx); err != nil {
				t.Fatal(err)
			}
			checkPlans(t, db, "before ANALYZE")
		}
		if err := db.AfterBulkLoad(ctx, "users", "user_traits"); err != nil {
			t.Fatal(err)
		}
		checkPlans(t, db, "after ANALYZE")
		if db.Dialect == database.SQLite {
			// Statistics that lie the other way: every index but the
			// login names' narrows nothing.
			if err := db.InTx(ctx, func(tx *database.Tx) error {
				if _, err := tx.ExecContext(ctx, `DELETE FROM sqlite_stat1`); err != nil {
					return err
				}
				for idx, cols := range indexColumns {
					table := "users"
					if strings.HasPrefix(idx, "user_traits") {
						table = "user_traits"
					}
					stat := "1000000 1000000" + strings.Repeat(" 1000000", len(cols))
					if idx == "users_login_name" {
						stat = "1000000 1000000 1"
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ($1, $2, $3)`, table, idx, stat); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.AfterBulkLoad(ctx); err != nil { // reloads the read connections
				t.Fatal(err)
			}
			checkPlans(t, db, "misleading statistics")
		}
	})
}

// planRow is what matching needs of a generated user.
type planRow struct {
	id, org, typ, state, login, email, family string
	created                                   int64
}

func loadPlanRows(t *testing.T, db *database.DB) []planRow {
	t.Helper()
	rows, err := db.Reader().QueryContext(ctx, `SELECT u.id, u.org_id, u.schema_type, u.state, u.login_name_lower, u.email_lower, u.created_at, t.value
FROM users u JOIN user_traits t ON t.instance_id = u.instance_id AND t.user_id = u.id WHERE u.instance_id = $1`, inst)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []planRow
	for rows.Next() {
		var r planRow
		if err := rows.Scan(&r.id, &r.org, &r.typ, &r.state, &r.login, &r.email, &r.created, &r.family); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// want returns the ids s matches among rows, in its order.
func (s Search) want(rows []planRow) []string {
	var match []planRow
	for _, r := range rows {
		ok := (s.OrgID == "" || r.org == s.OrgID) && (s.Type == "" || r.typ == s.Type) && (s.State == "" || r.state == string(s.State)) &&
			(s.LoginName == "" || r.login == LoginNameKey(s.LoginName)) && (s.LoginNamePrefix == "" || strings.HasPrefix(r.login, loginNamePrefixKey(s.LoginNamePrefix))) &&
			(s.Email == "" || r.email == strings.ToLower(s.Email))
		for _, f := range s.Traits {
			ok = ok && (r.family == f.Value || f.Prefix && strings.HasPrefix(r.family, f.Value))
		}
		if ok {
			match = append(match, r)
		}
	}
	slices.SortFunc(match, func(a, b planRow) int {
		c := strings.Compare(a.login, b.login)
		if s.SortBy == "createdAt" {
			c = cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.id, b.id))
		}
		if s.Descending {
			c = -c
		}
		return c
	})
	ids := make([]string, len(match))
	for i, r := range match {
		ids[i] = r.id
	}
	return ids
}

func checkPlans(t *testing.T, db *database.DB, when string) {
	all := loadPlanRows(t, db)
	cache := NewSearchCache(func() <-chan struct{} { return nil }, time.Hour)
	family := func(v string, prefix bool) []TraitFilter {
		return []TraitFilter{{Pointer: "/profile/family_name", Value: v, Prefix: prefix}}
	}
	for _, tc := range []struct {
		name   string
		s      Search
		index  string // the index every query reads
		sorted bool   // the candidates are few and sorted
		// common: the filter matches most users, so that PostgreSQL may
		// as well walk the sort order's own index, checking it on each.
		common bool
	}{
		{"all by login name", Search{}, "users_login_name", false, false},
		{"all by creation", Search{SortBy: "createdAt", Descending: true}, "users_created", false, false},
		{"exact login name", Search{LoginName: "USER00042"}, "users_login_name", false, false},
		{"exact login name by creation", Search{LoginName: "user00042", SortBy: "createdAt"}, "users_login_name", true, false},
		{"login name prefix", Search{LoginNamePrefix: "user01"}, "users_login_name", false, false},
		{"login name prefix by creation", Search{LoginNamePrefix: "user0199", SortBy: "createdAt"}, "users_login_name", true, false},
		{"login name prefix of many by creation", Search{LoginNamePrefix: "user1", SortBy: "createdAt", Descending: true}, "users_created", false, false},
		{"email", Search{Email: "User00042@example.com"}, "users_email", false, false},
		{"email by creation", Search{Email: "user00042@example.com", SortBy: "createdAt"}, "users_email_created", false, false},
		{"trait", Search{Traits: family("F7", false)}, "user_traits_login", false, false},
		{"trait by creation", Search{Traits: family("F7", false), SortBy: "createdAt"}, "user_traits_created", false, false},
		{"trait prefix of one value", Search{Traits: family("F199", true)}, "user_traits_login", false, false},
		{"trait prefix of one value by creation", Search{Traits: family("F199", true), SortBy: "createdAt", Descending: true}, "user_traits_created", false, false},
		{"trait prefix of many", Search{Traits: family("F1", true)}, "users_login_name", false, false},
		{"organization", Search{OrgID: "org-7"}, "users_org", false, false},
		{"organization by creation", Search{OrgID: "org-7", SortBy: "createdAt"}, "users_org_created", false, false},
		{"organization and login name prefix", Search{OrgID: "org-7", LoginNamePrefix: "user1"}, "users_org", false, false},
		{"organization and state", Search{OrgID: "org-0", State: StateLocked}, "users_org", false, false},
		{"state", Search{State: StateLocked}, "users_state", false, false},
		{"state by creation", Search{State: StateLocked, SortBy: "createdAt"}, "users_state_created", false, false},
		{"type", Search{Type: "human"}, "users_type", false, true},
		{"type by creation", Search{Type: "human", SortBy: "createdAt"}, "users_type_created", false, true},
		{"type and a rare state", Search{Type: "human", State: StateLocked}, "users_state", false, false},
		{"trait and organization", Search{Traits: family("F7", false), OrgID: "org-7"}, "user_traits_org_login", false, false},
		{"trait and organization by creation", Search{Traits: family("F7", false), OrgID: "org-7", SortBy: "createdAt", Descending: true}, "user_traits_org_created", false, false},
		{"trait, organization and login name prefix", Search{Traits: family("F7", false), OrgID: "org-7", LoginNamePrefix: "USER0"}, "user_traits_org_login", false, false},
		{"trait, organization and state", Search{Traits: family("F6", false), OrgID: "org-0", State: StateLocked}, "user_traits_org_login", false, false},
		{"trait, organization and state by creation", Search{Traits: family("F6", false), OrgID: "org-0", State: StateLocked, SortBy: "createdAt"}, "user_traits_org_created", false, false},
		{"type and a common state", Search{Type: "human", State: StateActive, SortBy: "createdAt"}, "users_state_created", false, true},
		{"a common state and a rare trait prefix", Search{State: StateActive, Traits: family("F199", true)}, "user_traits_login", true, false},
	} {
		t.Run(when+"/"+tc.name, func(t *testing.T) {
			sr := &Searcher{db: db}
			p, err := planSearch(ctx, db, nil, inst, tc.s, tc.s.SortBy != "createdAt")
			if err != nil {
				t.Fatal(err)
			}
			p.limit = 50
			if p.drive.index != tc.index || p.drive.ordered == tc.sorted {
				t.Fatalf("plan reads %s (ordered %t), want %s (ordered %t)", p.drive.index, p.drive.ordered, tc.index, !tc.sorted)
			}
			first, err := sr.Find(ctx, inst, tc.s, userschema.Admin)
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Users) == 0 {
				t.Fatalf("found nobody")
			}
			// Every page in turn, short ones included, finds what the
			// filters match, in order, once; the total is exact or a
			// lower bound.
			if when == "after ANALYZE" { // the same plans: walked once, and again with a warm cache
				want := tc.s.want(all)
				plain := &Searcher{db: db, keys: testRing(t, 1)}
				for _, sr := range []*Searcher{plain, plain.WithCache(cache)} {
					if sr.cache != nil {
						if _, err := sr.Find(ctx, inst, tc.s, userschema.Admin); err != nil {
							t.Fatal(err)
						}
					}
					walk := tc.s
					walk.Limit = 1000
					got, page := walkPages(t, sr, walk)
					if page.Total > len(want) || !page.TotalIsLowerBound && page.Total != min(len(want), CountCap) {
						t.Errorf("total %d (lower bound %t), %d match", page.Total, page.TotalIsLowerBound, len(want))
					}
					if !slices.Equal(got, want) {
						t.Fatalf("pages found %d users, %d match (cached %t)", len(got), len(want), sr.cache != nil)
					}
				}
			}
			last := first.Users[len(first.Users)-1]
			c := &cursor{Key: last.LoginName, ID: last.ID}
			created := last.CreatedAt.UnixMicro()
			queries := map[string]query{"first page": p.pageQuery(nil, 0, len(p.residual) == 0 && p.drive.ordered), "next page": p.pageQuery(c, created, false)}
			// A statement's text depends on the search's shape, not on
			// what it found: another total, the same statement.
			other := *p
			other.candidates++
			if q := other.pageQuery(c, created, false); q.sql != queries["next page"].sql {
				t.Errorf("the page's statement names its total:\n%s\n%s", q.sql, queries["next page"].sql)
			}
			if len(p.residual) == 0 && p.drive.ordered {
				queries["count"] = p.countQuery()
			}
			if len(p.residual) > 0 && p.drive.ordered {
				queries["continuation"] = p.continuation(c, created)
			}
			// A trait prefix's ends, which tell a range of one value.
			if a := p.drive; a.one != nil {
				queries["ends"] = p.endsOf(a)
			} else if len(a.absorbs) > 0 && a.absorbs[0].unordered != nil && a.absorbs[0].unordered.one != nil {
				queries["ends"] = p.endsOf(a.absorbs[0].unordered)
			}
			for name, q := range queries {
				plan := dbtest.Explain(t, db, q.sql, q.args...)
				if testing.Verbose() {
					t.Logf("%s: %s\n  %s", name, q.sql, strings.Join(plan, "\n  "))
				}
				// A page reads its users through the unique login name or
				// the primary key, and checks residual filters in their
				// own indexes.
				others := strings.Contains(name, "page")
				index := tc.index
				if tc.common && db.Dialect == database.Postgres {
					index = p.walkIndex()
				}
				if msg := badPlan(db.Dialect, plan, index, tc.sorted || name == "count", others); msg != "" && (index == tc.index || badPlan(db.Dialect, plan, tc.index, tc.sorted || name == "count", others) != "") {
					t.Errorf("%s: %s\n%s\nplan:\n  %s", name, msg, q.sql, strings.Join(plan, "\n  "))
				}
			}
		})
	}
}

var (
	sqliteIndexUse = regexp.MustCompile(`(?:SEARCH|SCAN) (\w+) USING (?:COVERING )?INDEX (\w+)`)
	postgresIndex  = regexp.MustCompile(`Index (?:Only )?Scan(?: Backward)? using (\w+) on (\w+)`)
)

// badPlan says what is wrong with a plan that should read the users
// through index (and the primary keys of users and user_traits, and with
// others the indexes of other filters), or "".
// A sort is allowed when the plan's candidates are few (or it counts).
func badPlan(dialect database.Dialect, plan []string, index string, sortAllowed, others bool) string {
	read := false
	for _, line := range plan {
		switch dialect {
		case database.SQLite:
			if m := sqliteIndexUse.FindStringSubmatch(line); m != nil {
				if m[2] == index {
					read = true
				} else if !strings.HasPrefix(m[2], "sqlite_autoindex_") && (!others || indexColumns[m[2]] == nil) {
					return "reads another index: " + line
				}
				continue
			}
			if strings.Contains(line, "USING INTEGER PRIMARY KEY") || strings.Contains(line, "USING PRIMARY KEY") {
				continue
			}
			if strings.HasPrefix(line, "SCAN ") && line != "SCAN CONSTANT ROW" && !strings.Contains(line, "SUBQUERY") && !strings.Contains(line, "(subquery-") && !strings.HasPrefix(line, "SCAN c") && !strings.HasPrefix(line, "SCAN u") && !strings.HasPrefix(line, "SCAN t") {
				return "scans a table: " + line
			}
			if strings.Contains(line, "TEMP B-TREE") && !sortAllowed {
				return "sorts: " + line
			}
		case database.Postgres:
			if m := postgresIndex.FindStringSubmatch(line); m != nil {
				if m[1] == index {
					read = true
				} else if m[1] != "users_pkey" && m[1] != "user_traits_pkey" && (!others || indexColumns[m[1]] == nil) {
					return "reads another index: " + line
				}
				continue
			}
			trimmed := strings.TrimLeft(line, " ->")
			if strings.HasPrefix(trimmed, "Seq Scan") || strings.HasPrefix(trimmed, "Bitmap") {
				return "scans a table: " + line
			}
			if strings.HasPrefix(trimmed, "Materialize") || strings.HasPrefix(trimmed, "Join Filter") {
				return "joins by scanning: " + line
			}
			if (strings.HasPrefix(trimmed, "Sort") || strings.HasPrefix(trimmed, "Incremental Sort")) && !sortAllowed {
				return "sorts: " + line
			}
		}
	}
	if !read {
		return "does not read " + index
	}
	return ""
}

// TestRememberedManyStaysRight: a cache remembers that a filter matched
// many users, and the filter then matches few. Until the memory expires
// the plan reads it as a filter of many (it asks the cache before
// counting), and its pages still hold exactly the users it matches, in
// order.
func TestRememberedManyStaysRight(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := openPlanDirectory(t, src)
		if err := db.AfterBulkLoad(ctx, "users", "user_traits"); err != nil {
			t.Fatal(err)
		}
		setLocked := func(where string) {
			t.Helper()
			if err := db.InTx(ctx, func(tx *database.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE users SET state = CASE WHEN `+where+` THEN 'locked' ELSE 'active' END WHERE instance_id = $1`, inst)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		s := Search{Type: "human", State: StateLocked, Limit: 50}
		cache := NewSearchCache(func() <-chan struct{} { return nil }, time.Hour)
		sr := (&Searcher{db: db, keys: testRing(t, 1)}).WithCache(cache)
		setLocked("substr(id, 2) < '10000'") // half the users
		if _, err := sr.Find(ctx, inst, s, userschema.Admin); err != nil {
			t.Fatal(err)
		}
		if len(cache.many) != 2 {
			t.Fatalf("%d counts of many remembered, want the type's and the state's", len(cache.many))
		}
		setLocked("substr(id, 2) < '00100'") // 99 users
		want := s.want(loadPlanRows(t, db))
		got, page := walkPages(t, sr, s)
		if page.Total > len(want) || !page.TotalIsLowerBound && page.Total != len(want) {
			t.Errorf("total %d (lower bound %t), %d match", page.Total, page.TotalIsLowerBound, len(want))
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("pages found %d users, %d match", len(got), len(want))
		}

		// The plan asks the cache before counting: a trait prefix of few
		// (two values: one alone is read as an equality, uncounted)
		// remembered as many is read by walking the login names, and
		// still finds its users.
		if err := db.InTx(ctx, func(tx *database.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE user_traits SET value = 'F199b' WHERE instance_id = $1 AND user_id = 'u09950'`, inst)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		prefix := Search{Traits: []TraitFilter{{Pointer: "/profile/family_name", Value: "F199", Prefix: true}}}
		p, err := planSearch(ctx, db, cache, inst, prefix, true)
		if err != nil || p.drive.index != "user_traits_login" {
			t.Fatalf("plan reads %s (%v), want user_traits_login", p.drive.index, err)
		}
		cache.rememberMany(p.countOf(p.drive))
		if p, err = planSearch(ctx, db, cache, inst, prefix, true); err != nil || p.drive.index != "users_login_name" {
			t.Fatalf("remembered as many, the plan reads %s (%v), want users_login_name", p.drive.index, err)
		}
		want = prefix.want(loadPlanRows(t, db))
		if got, _ := walkPages(t, sr, prefix); len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("prefix remembered as many: pages found %d users, %d match", len(got), len(want))
		}
	})
}

// walkPages follows s's pages with sr to the end: the users found, in
// order, and the first page.
func walkPages(t *testing.T, sr *Searcher, s Search) ([]string, Page) {
	t.Helper()
	var (
		ids   []string
		first Page
	)
	for pages := 0; ; pages++ {
		page, err := sr.Find(ctx, inst, s, userschema.Admin)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 {
			first = page
		}
		for _, u := range page.Users {
			ids = append(ids, u.ID)
		}
		if page.NextCursor == "" || pages > planUsers {
			return ids, first
		}
		s.Cursor = page.NextCursor
	}
}

// openPlanDirectory opens a user store of src holding the plan directory
// (fillPlanDirectory), humans of the default type.
func openPlanDirectory(t *testing.T, src dbtest.Source) *database.DB {
	t.Helper()
	db, _ := openUserStore(t, src, eventstore.SystemEditor)
	human, err := usertype.ByName(ctx, db, inst, "human")
	if err != nil {
		t.Fatal(err)
	}
	fillPlanDirectory(t, db, human.ID)
	return db
}

// TestTraitPrefixOfOneValue: a trait prefix all of whose matches have one
// value reads that value's entries in page order; once another value
// matches too, it counts its matches and, few, reads and sorts them all.
// Either way the pages hold exactly its users, in order, and the total is
// exact.
func TestTraitPrefixOfOneValue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		db := openPlanDirectory(t, src)
		sr := &Searcher{db: db, keys: testRing(t, 1)}
		for _, tc := range []struct {
			name    string
			update  string // of user_traits, before the search
			ordered bool
			total   int
		}{
			{"one value", "", true, 100},
			{"two values", "UPDATE user_traits SET value = 'F199b' WHERE instance_id = $1 AND user_id IN ('u09950', 'u19999')", false, 100},
			{"one value again", "UPDATE user_traits SET value = 'F199b' WHERE instance_id = $1 AND value = 'F199'", true, 100},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.update != "" {
					if err := db.InTx(ctx, func(tx *database.Tx) error {
						_, err := tx.ExecContext(ctx, tc.update, inst)
						return err
					}); err != nil {
						t.Fatal(err)
					}
				}
				for _, s := range []Search{
					{Traits: []TraitFilter{{Pointer: "/profile/family_name", Value: "F199", Prefix: true}}, Limit: 30},
					{Traits: []TraitFilter{{Pointer: "/profile/family_name", Value: "F199", Prefix: true}}, Limit: 30, SortBy: "createdAt", Descending: true},
					// with a login name prefix of many: a range of the value's
					// login names
					{Traits: []TraitFilter{{Pointer: "/profile/family_name", Value: "F199", Prefix: true}}, LoginNamePrefix: "user1", Limit: 20},
				} {
					p, err := planSearch(ctx, db, nil, inst, s, s.SortBy != "createdAt")
					if err != nil {
						t.Fatal(err)
					}
					if p.drive.ordered != tc.ordered || s.LoginNamePrefix != "" && tc.ordered && p.loginRange == nil {
						t.Errorf("sorted by %q, login prefix %q: plan reads %s ordered %t (login range %t), want ordered %t", s.SortBy, s.LoginNamePrefix, p.drive.index, p.drive.ordered, p.loginRange != nil, tc.ordered)
					}
					want := s.want(loadPlanRows(t, db))
					if s.LoginNamePrefix == "" && len(want) != tc.total || len(want) == 0 {
						t.Fatalf("%d users match, want %d", len(want), tc.total)
					}
					got, first := walkPages(t, sr, s)
					if !slices.Equal(got, want) {
						t.Errorf("sorted by %q, login prefix %q: pages found %d users, %d match", s.SortBy, s.LoginNamePrefix, len(got), len(want))
					}
					if first.Total != len(want) || first.TotalIsLowerBound {
						t.Errorf("sorted by %q, login prefix %q: total %d (lower bound %t), want %d", s.SortBy, s.LoginNamePrefix, first.Total, first.TotalIsLowerBound, len(want))
					}
				}
			})
		}
	})
}
