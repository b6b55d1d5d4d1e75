package user

import (
	"context"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
)

// The plan of a search. Every search reads its candidates from one index,
// named here and forced on SQLite (INDEXED BY), so that no statistics,
// stale or missing, can choose another. On PostgreSQL the queries run on
// database.DB.IndexReader (no table scans, hashes or merges) and order by
// all the index's columns, so that the same index is the only plan without
// a sort. plan_test.go checks both.
//
//   - An ordered access reads an index in the page's order: equality
//     filters, then the sort key. The page stops after its last user.
//   - An unordered access reads at most ScanBudget matches of a range or
//     equality filter whose matches are few (counted first, index only),
//     and sorts them.
//   - A range all of whose entries have one value (a trait prefix that
//     one family name matches: its least and greatest entries, two index
//     seeks, are the same) is read as that value's ordered access, when
//     that leaves no residual filter.
//
// Filters the access does not answer are residual, checked on each
// candidate — at most ScanBudget candidates per page — by probing the
// filter's own index at the candidate's position in the page's order (its
// login name, or its creation time and id): index entries only. Only the
// page's users are read from the table, by login name or id. Prefix
// filters, which no index can probe at a position, read the candidate's
// row.

// access is an index a search reads its candidates from.
type access struct {
	table   string // users or user_traits
	index   string // read on SQLite with INDEXED BY
	ordered bool   // yields rows in the page's order
	walk    bool   // the whole sort order: no condition
	conds   func(alias string, arg func(any) string) []string
	// absorbs lists the filters this access answers.
	absorbs []*filter
	// one, of an access to a range of values, is the ordered access of
	// one value of it: a plan reads it instead when every entry of the
	// range has that value (a trait prefix that one value matches), so
	// that the page stops after its last user instead of counting and
	// sorting all.
	one func(value string) *access
}

// filter is one condition of a search, as a residual check of a
// candidate's keys (candidateKeys) aliased c, and the accesses that can
// answer it.
type filter struct {
	residual func(c string, arg func(any) string) string
	// ordered answers the filter in the sort order (nil: none does), and
	// unordered answers it with few enough matches to sort.
	ordered, unordered *access
	// selective: an ordered access by this filter is preferred to a walk
	// of the sort order (all but the login name prefix, which a walk of the
	// login names answers itself).
	selective bool
}

type searchPlan struct {
	dialect    database.Dialect
	instanceID string
	login      bool // sorted by login name; else by creation time
	desc       bool
	limit      int
	drive      *access
	residual   []*filter
	loginRange *filter // the login name prefix, when the drive's index answers it as a range
	// candidates is the number of entries of an unordered drive, counted
	// when the plan chose it.
	candidates int
	cache      *SearchCache // nil: every count is read
}

// indexColumns are the columns of each index a search reads, after
// instance_id. Every read orders by them, which on PostgreSQL leaves the
// index as the only plan that needs no sort: an index with the same
// filter columns in another order would have to sort all its matches.
var indexColumns = map[string][]string{
	"users_login_name":    {"login_name_lower"},
	"users_created":       {"created_at", "id"},
	"users_org":           {"org_id", "login_name_lower"},
	"users_org_created":   {"org_id", "created_at", "id"},
	"users_state":         {"state", "login_name_lower"},
	"users_state_created": {"state", "created_at", "id"},
	"users_type":          {"schema_type", "login_name_lower"},
	"users_type_created":  {"schema_type", "created_at", "id"},
	"users_email":         {"email_lower", "login_name_lower"},
	"users_email_created": {"email_lower", "created_at", "id"},
	"user_traits_login":   {"pointer", "value", "login_name_lower", "user_id"},
	"user_traits_created": {"pointer", "value", "created_at", "user_id"},
	// A trait within an organization. The organization follows the value,
	// so these do not serve a trait filter alone in page order.
	"user_traits_org_login":   {"pointer", "value", "org_id", "login_name_lower", "user_id"},
	"user_traits_org_created": {"pointer", "value", "org_id", "created_at", "user_id"},
}

// equal is the condition column = value of a drive's index.
//
// On PostgreSQL, an equality also drops the column from the order a plan
// must produce, so an index walked in the page's order with the filter
// checked on each row is a plan too; the planner takes it when its
// statistics say the value is common — when most rows match, it costs
// what the drive's index does. (Writing the equality as a range of one
// value would forbid that plan, but PostgreSQL then positions an index
// scan on that column alone and reads every later column's entries from
// its start: a cursor or a login name range after it would no longer
// seek.)
func equal(dialect database.Dialect, column string, value any) []func(string, func(any) string) string {
	return []func(string, func(any) string) string{func(alias string, arg func(any) string) string {
		return alias + "." + column + " = " + arg(value)
	}}
}

func conds(cs ...[]func(string, func(any) string) string) func(string, func(any) string) []string {
	return func(alias string, arg func(any) string) []string {
		var out []string
		for _, c := range cs {
			for _, f := range c {
				out = append(out, f(alias, arg))
			}
		}
		return out
	}
}

func prefixRange(column, prefix string) func(string, func(any) string) []string {
	return func(alias string, arg func(any) string) []string {
		return []string{alias + "." + column + " >= " + arg(prefix), alias + "." + column + " < " + arg(upperBound(prefix))}
	}
}

// planSearch chooses how s is read: the first filter with an ordered
// access by this priority — exact login name, email, trait equality,
// organization, state, type — or a walk of the sort order; and, when
// that leaves residual filters on more than ScanBudget candidates, the
// first other filter with at most ScanBudget matches instead. With an
// organization, a trait equality's accesses answer the organization too
// (user_traits_org_login, user_traits_org_created): one range of the
// organization's matches, in page order.
func planSearch(ctx context.Context, db *database.DB, cache *SearchCache, instanceID string, s Search, login bool) (*searchPlan, error) {
	p := &searchPlan{dialect: db.Dialect, instanceID: instanceID, login: login, desc: s.Descending, cache: cache}
	eq := func(column string, value any) func(string, func(any) string) []string {
		return conds(equal(db.Dialect, column, value))
	}
	byOrder := func(loginIndex, createdIndex string) string {
		if login {
			return loginIndex
		}
		return createdIndex
	}
	users := func(loginIndex, createdIndex string, conds func(string, func(any) string) []string) *access {
		return &access{table: "users", index: byOrder(loginIndex, createdIndex), ordered: true, conds: conds}
	}
	// probe checks a residual filter on a candidate c (its keys) in the
	// filter's own index: the entry at c's position with the filter's
	// value, index entries only.
	probe := func(table, loginIndex, createdIndex string, cond func(string, func(any) string) []string) func(string, func(any) string) string {
		return func(c string, arg func(any) string) string {
			conds := append([]string{"r.instance_id = $1"}, cond("r", arg)...)
			if login {
				conds = append(conds, "r.login_name_lower = "+c+".login_name_lower")
			} else {
				conds = append(conds, "r.created_at = "+c+".created_at", "r."+idColumn(table)+" = "+c+".id")
			}
			return "EXISTS (SELECT 1 FROM " + table + " AS r" + p.indexedBy(byOrder(loginIndex, createdIndex)) + " WHERE " + strings.Join(conds, " AND ") + ")"
		}
	}
	// byUser checks a condition on c's users row or user_traits rows,
	// found by id through the row of c's login name when sorted by it: for
	// the filters no index can probe at a position (prefixes).
	byUser := func(cond func(string, func(any) string) string) func(string, func(any) string) string {
		return func(c string, arg func(any) string) string {
			if login {
				return "EXISTS (SELECT 1 FROM users AS r" + p.indexedBy("users_login_name") + " WHERE r.instance_id = $1 AND r.login_name_lower = " +
					c + ".login_name_lower AND " + cond("r.id", arg) + ")"
			}
			return cond(c+".id", arg)
		}
	}
	// A probe's equalities are plain ones: an index seek at a position,
	// not a read in the index's order (equal).
	plainEq := func(columns ...string) func(values ...any) func(string, func(any) string) []string {
		return func(values ...any) func(string, func(any) string) []string {
			return func(alias string, arg func(any) string) []string {
				out := make([]string, len(columns))
				for i, c := range columns {
					out[i] = alias + "." + c + " = " + arg(values[i])
				}
				return out
			}
		}
	}
	usersColumn := func(loginIndex, createdIndex, column string, value any) (*access, *access, func(string, func(any) string) string) {
		cond := eq(column, value)
		return users(loginIndex, createdIndex, cond), &access{table: "users", index: byOrder(loginIndex, createdIndex), conds: cond},
			probe("users", loginIndex, createdIndex, plainEq(column)(value))
	}
	var filters []*filter
	add := func(f *filter) *filter {
		filters = append(filters, f)
		if f.ordered != nil {
			f.ordered.absorbs = []*filter{f}
		}
		if f.unordered != nil {
			f.unordered.absorbs = []*filter{f}
		}
		return f
	}
	if s.LoginName != "" {
		k := LoginNameKey(s.LoginName)
		a := &access{table: "users", index: "users_login_name", ordered: login, conds: eq("login_name_lower", k)}
		f := &filter{selective: true, unordered: a, residual: byUser(func(id string, arg func(any) string) string {
			return "EXISTS (SELECT 1 FROM users AS x WHERE x.instance_id = $1 AND x.id = " + id + " AND x.login_name_lower = " + arg(k) + ")"
		})}
		if login {
			f.ordered = a
		}
		add(f)
	}
	if s.Email != "" {
		f := &filter{selective: true}
		f.ordered, f.unordered, f.residual = usersColumn("users_email", "users_email_created", "email_lower", strings.ToLower(s.Email))
		add(f)
	}
	type traitEquality struct {
		f     *filter
		match []func(string, func(any) string) string // pointer and value
	}
	var traitEqualities []traitEquality
	for _, t := range s.Traits {
		if t.Prefix {
			continue
		}
		match := slices.Concat(equal(db.Dialect, "pointer", t.Pointer), equal(db.Dialect, "value", t.Value))
		c := conds(match)
		index := byOrder("user_traits_login", "user_traits_created")
		f := add(&filter{selective: true, residual: probe("user_traits", "user_traits_login", "user_traits_created", plainEq("pointer", "value")(t.Pointer, t.Value)),
			ordered:   &access{table: "user_traits", index: index, ordered: true, conds: c},
			unordered: &access{table: "user_traits", index: index, conds: c}})
		traitEqualities = append(traitEqualities, traitEquality{f, match})
	}
	var orgFilter *filter
	for _, col := range []struct {
		value, column, loginIndex, createdIndex string
	}{
		{s.OrgID, "org_id", "users_org", "users_org_created"},
		{string(s.State), "state", "users_state", "users_state_created"},
		{s.Type, "schema_type", "users_type", "users_type_created"},
	} {
		if col.value == "" {
			continue
		}
		f := &filter{selective: true}
		f.ordered, f.unordered, f.residual = usersColumn(col.loginIndex, col.createdIndex, col.column, col.value)
		add(f)
		if col.column == "org_id" {
			orgFilter = f
		}
	}
	// Within an organization, a trait equality reads the index that holds
	// the organization after the value: both filters are one range, whose
	// matches are the organization's only, in page order.
	if orgFilter != nil {
		index := byOrder("user_traits_org_login", "user_traits_org_created")
		for _, t := range traitEqualities {
			c := conds(t.match, equal(db.Dialect, "org_id", s.OrgID))
			both := []*filter{t.f, orgFilter}
			t.f.ordered = &access{table: "user_traits", index: index, ordered: true, conds: c, absorbs: both}
			t.f.unordered = &access{table: "user_traits", index: index, conds: c, absorbs: both}
		}
	}
	var loginPrefix *filter
	if s.LoginNamePrefix != "" {
		k := loginNamePrefixKey(s.LoginNamePrefix)
		r := prefixRange("login_name_lower", k)
		residual := func(c string, arg func(any) string) string { return strings.Join(r(c, arg), " AND ") }
		if !login {
			residual = byUser(func(id string, arg func(any) string) string {
				return "EXISTS (SELECT 1 FROM users AS x WHERE x.instance_id = $1 AND x.id = " + id + " AND " + strings.Join(r("x", arg), " AND ") + ")"
			})
		}
		loginPrefix = add(&filter{
			residual: residual,
			// the range of users_login_name and of every index whose
			// equality columns the sort key follows
			ordered:   &access{table: "users", index: "users_login_name", ordered: login, conds: r},
			unordered: &access{table: "users", index: "users_login_name", conds: r},
		})
		if !login {
			loginPrefix.ordered = nil
		}
	}
	for _, t := range s.Traits {
		if !t.Prefix {
			continue
		}
		ptr, v := t.Pointer, t.Value
		valueRange := func(alias string, arg func(any) string) string {
			return alias + ".value >= " + arg(v) + " AND " + alias + ".value < " + arg(upperBound(v))
		}
		index := byOrder("user_traits_login", "user_traits_created")
		f := add(&filter{
			residual: byUser(func(id string, arg func(any) string) string {
				return "EXISTS (SELECT 1 FROM user_traits AS x WHERE x.instance_id = $1 AND x.user_id = " + id + " AND x.pointer = " + arg(ptr) + " AND " + valueRange("x", arg) + ")"
			}),
			unordered: &access{table: "user_traits", index: index, conds: conds(equal(db.Dialect, "pointer", ptr),
				[]func(string, func(any) string) string{valueRange})}})
		f.unordered.one = func(value string) *access {
			return &access{table: "user_traits", index: index, ordered: true, conds: conds(equal(db.Dialect, "pointer", ptr), equal(db.Dialect, "value", value)), absorbs: []*filter{f}}
		}
	}

	// The ordered drive: the first selective filter with an ordered
	// access, else the login name range, else the sort order itself.
	for _, f := range filters {
		if f.selective && f.ordered != nil {
			p.drive = f.ordered
			break
		}
	}
	if p.drive == nil && loginPrefix != nil && loginPrefix.ordered != nil {
		p.drive = loginPrefix.ordered
	}
	if p.drive == nil {
		p.drive = users("users_login_name", "users_created", func(string, func(any) string) []string { return nil })
		p.drive.walk = true
	}
	// A login name prefix narrows the range of an index sorted by login
	// name after its equality columns.
	if loginPrefix != nil && login && p.drive != loginPrefix.ordered {
		p.loginRange = loginPrefix
	}
	// residualOf are the filters a drive answering absorbs leaves, with
	// loginRange narrowing its range.
	residualOf := func(absorbs []*filter, loginRange *filter) []*filter {
		var out []*filter
		for _, f := range filters {
			if !contains(absorbs, f) && f != loginRange {
				out = append(out, f)
			}
		}
		return out
	}
	setResidual := func() { p.residual = residualOf(p.drive.absorbs, p.loginRange) }
	setResidual()
	if len(p.residual) == 0 {
		return p, nil
	}
	// Residual filters on many candidates may leave a page short; a filter
	// with few matches reads them all instead. A walk of the whole sort
	// order is not counted: it has few entries only in an instance of at
	// most ScanBudget users, where either plan reads at most that many.
	if !p.drive.walk {
		if _, few, err := p.fewMatches(ctx, db, p.drive); err != nil || few {
			return p, err
		}
	}
	// A range of one value whose ordered access would answer every filter
	// (a login name prefix as the range after the value).
	for _, f := range filters {
		if f.unordered == nil || f.unordered.one == nil {
			continue
		}
		var loginRange *filter
		if loginPrefix != nil && login {
			loginRange = loginPrefix
		}
		if len(residualOf([]*filter{f}, loginRange)) > 0 {
			continue
		}
		v, ok, err := p.oneValue(ctx, db, f.unordered)
		if err != nil {
			return nil, err
		}
		if ok {
			p.drive, p.loginRange, p.residual = f.unordered.one(v), loginRange, nil
			return p, nil
		}
	}
	for _, f := range filters {
		if f.unordered == nil || contains(p.drive.absorbs, f) {
			continue
		}
		n, few, err := p.fewMatches(ctx, db, f.unordered)
		if err != nil {
			return nil, err
		}
		if few {
			p.drive, p.loginRange, p.candidates = f.unordered, nil, n
			setResidual()
			return p, nil
		}
	}
	return p, nil
}

func contains(fs []*filter, f *filter) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

// walkIndex is the index of the page's order itself, which PostgreSQL may
// walk instead of the drive's when the drive's filter matches most users.
func (p *searchPlan) walkIndex() string {
	if p.login {
		return "users_login_name"
	}
	return "users_created"
}
