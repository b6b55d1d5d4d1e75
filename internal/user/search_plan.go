package user

import (
	"context"
	"fmt"
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
//
// Filters the access does not answer are residual, checked on each
// candidate: at most ScanBudget candidates per page.

// access is an index a search reads its candidates from.
type access struct {
	table   string // users or user_traits
	index   string // read on SQLite with INDEXED BY
	ordered bool   // yields rows in the page's order
	conds   func(alias string, arg func(any) string) []string
	// absorbs lists the filters this access answers.
	absorbs []*filter
}

// filter is one condition of a search, as a residual check on a users row
// aliased u, and the accesses that can answer it.
type filter struct {
	residual func(arg func(any) string) string
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
}

// indexOrder is the ORDER BY of a read of a's index under alias: in the
// page's direction when a is ordered.
func (p *searchPlan) indexOrder(alias string, a *access) string {
	if p.dialect == database.SQLite && a.ordered {
		// INDEXED BY chose the index; SQLite sees that its filter columns
		// are constant only when the order leaves them out, and then needs
		// no sort where a query reads this one's rows in turn.
		return p.orderBy(alias, idColumn(a.table))
	}
	dir := " ASC"
	if a.ordered && p.desc {
		dir = " DESC"
	}
	cols := indexColumns[a.index]
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + c + dir
	}
	return strings.Join(out, ", ")
}

func (p *searchPlan) indexedBy(index string) string {
	if p.dialect == database.SQLite {
		return " INDEXED BY " + index
	}
	return ""
}

// sortColumns are the page order's columns of alias (its id column named
// id, or user_id in user_traits).
func (p *searchPlan) sortColumns(alias, id string) []string {
	if p.login {
		return []string{alias + ".login_name_lower"}
	}
	return []string{alias + ".created_at", alias + "." + id}
}

func (p *searchPlan) orderBy(alias, id string) string {
	dir := " ASC"
	if p.desc {
		dir = " DESC"
	}
	cols := p.sortColumns(alias, id)
	for i := range cols {
		cols[i] += dir
	}
	return strings.Join(cols, ", ")
}

// after is the condition of the rows after the cursor c.
func (p *searchPlan) after(alias, id string, c *cursor, createdKey int64, arg func(any) string) string {
	cmp := ">"
	if p.desc {
		cmp = "<"
	}
	if p.login {
		// Login names are unique, so the key alone is a position.
		return fmt.Sprintf("%s.login_name_lower %s %s", alias, cmp, arg(c.Key))
	}
	// A row-value comparison is what lets both databases seek the index
	// to the cursor instead of filtering every row before it.
	return fmt.Sprintf("(%s.created_at, %s.%s) %s (%s, %s)", alias, alias, id, cmp, arg(createdKey), arg(c.ID))
}

func idColumn(table string) string {
	if table == "user_traits" {
		return "user_id"
	}
	return "id"
}

func userColumnsOf(alias string) string {
	return strings.NewReplacer("{u}", alias).Replace(`{u}.id, {u}.org_id, {u}.schema_id, {u}.schema_type, {u}.schema_revision, {u}.login_name, {u}.traits,
	{u}.email, {u}.email_verified, {u}.phone, {u}.phone_verified, {u}.state, {u}.password_hash <> '', {u}.password_change_required,
	{u}.created_at, {u}.changed_at, {u}.sequence`)
}

// driveConds are the conditions of the drive's index on alias, with the
// login name range when the drive answers it.
func (p *searchPlan) driveConds(alias string, arg func(any) string) []string {
	conds := append([]string{alias + ".instance_id = $1"}, p.drive.conds(alias, arg)...)
	if p.loginRange != nil {
		conds = append(conds, p.loginRange.ordered.conds(alias, arg)...)
	}
	return conds
}

func (p *searchPlan) residualCond(arg func(any) string) string {
	if len(p.residual) == 0 {
		return "1 = 1"
	}
	conds := make([]string, len(p.residual))
	for i, f := range p.residual {
		conds[i] = f.residual(arg)
	}
	return strings.Join(conds, " AND ")
}

// query is SQL with its arguments ($1 is the instance).
type query struct {
	sql  string
	args []any
}

func (p *searchPlan) newArgs() (*[]any, func(any) string) {
	args := []any{p.instanceID}
	return &args, func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
}

// pageQuery selects the page after c (nil: the first), its users' columns
// then their sort key, limit+1 rows at most.
func (p *searchPlan) pageQuery(c *cursor, createdKey int64) query {
	args, arg := p.newArgs()
	d, id := p.drive, idColumn(p.drive.table)
	key := "u.login_name_lower"
	if !p.login {
		key = "u.created_at"
	}
	sel := "SELECT " + userColumnsOf("u") + ", " + key + " FROM "
	var q string
	switch {
	case d.ordered && d.table == "users" && len(p.residual) == 0:
		conds := p.driveConds("u", arg)
		if c != nil {
			conds = append(conds, p.after("u", "id", c, createdKey, arg))
		}
		q = sel + "users AS u" + p.indexedBy(d.index) + " WHERE " + strings.Join(conds, " AND ") +
			" ORDER BY " + p.indexOrder("u", d) + fmt.Sprintf(" LIMIT %d", p.limit+1)
	case d.ordered && d.table == "users":
		conds := p.driveConds("d", arg)
		if c != nil {
			conds = append(conds, p.after("d", "id", c, createdKey, arg))
		}
		q = sel + "(SELECT * FROM users AS d" + p.indexedBy(d.index) + " WHERE " + strings.Join(conds, " AND ") +
			" ORDER BY " + p.indexOrder("d", d) + fmt.Sprintf(" LIMIT %d) AS u", ScanBudget) +
			" WHERE " + p.residualCond(arg) + " ORDER BY " + p.indexOrder("u", d) + fmt.Sprintf(" LIMIT %d", p.limit+1)
	case d.ordered: // user_traits
		conds := p.driveConds("t", arg)
		if c != nil {
			conds = append(conds, p.after("t", id, c, createdKey, arg))
		}
		scan := p.limit + 1
		if len(p.residual) > 0 {
			scan = ScanBudget
		}
		q = sel + "(SELECT t.pointer, t.value, t.user_id, t.login_name_lower, t.created_at FROM user_traits AS t" + p.indexedBy(d.index) +
			" WHERE " + strings.Join(conds, " AND ") + " ORDER BY " + p.indexOrder("t", d) + fmt.Sprintf(" LIMIT %d) AS t", scan) +
			" CROSS JOIN users AS u WHERE u.instance_id = $1 AND u.id = t.user_id AND " + p.residualCond(arg) +
			" ORDER BY " + p.indexOrder("t", d) + fmt.Sprintf(" LIMIT %d", p.limit+1)
	case d.table == "user_traits" && len(p.residual) == 0:
		// Unordered trait matches carry their sort keys: sorted and cut to
		// the page before the users are read.
		conds := p.driveConds("t", arg)
		var after string
		if c != nil {
			after = " WHERE " + p.after("t", id, c, createdKey, arg)
		}
		q = strings.TrimSuffix(sel, " FROM ") + ", t.n FROM (SELECT t.user_id, t.login_name_lower, t.created_at, count(*) OVER () AS n FROM " +
			"(SELECT t.user_id, t.login_name_lower, t.created_at FROM user_traits AS t" + p.indexedBy(d.index) + " WHERE " + strings.Join(conds, " AND ") +
			" ORDER BY " + p.indexOrder("t", d) + fmt.Sprintf(" LIMIT %d) AS t", ScanBudget+1) + after +
			" ORDER BY " + p.orderBy("t", id) + fmt.Sprintf(" LIMIT %d) AS t", p.limit+1) +
			" CROSS JOIN users AS u WHERE u.instance_id = $1 AND u.id = t.user_id ORDER BY " + p.orderBy("t", id) + fmt.Sprintf(" LIMIT %d", p.limit+1)
	default: // unordered: few matches, sorted here and counted
		sel = strings.TrimSuffix(sel, " FROM ") + ", count(*) OVER () FROM "
		from, conds := p.unorderedCandidates(arg)
		conds = append(conds, p.residualCond(arg))
		if c != nil {
			conds = append(conds, p.after("u", "id", c, createdKey, arg))
		}
		q = sel + from + " WHERE " + strings.Join(conds, " AND ") +
			" ORDER BY " + p.orderBy("u", "id") + fmt.Sprintf(" LIMIT %d", p.limit+1)
	}
	return query{q, *args}
}

// unorderedCandidates is the FROM clause of the users, aliased u, that an
// unordered drive reads (at most ScanBudget+1), and the conditions that
// join them.
func (p *searchPlan) unorderedCandidates(arg func(any) string) (from string, join []string) {
	d := p.drive
	if d.table == "users" {
		return "(SELECT * FROM users AS d" + p.indexedBy(d.index) + " WHERE " + strings.Join(p.driveConds("d", arg), " AND ") +
			" ORDER BY " + p.indexOrder("d", d) + fmt.Sprintf(" LIMIT %d) AS u", ScanBudget+1), nil
	}
	return "(SELECT t.user_id FROM user_traits AS t" + p.indexedBy(d.index) + " WHERE " + strings.Join(p.driveConds("t", arg), " AND ") +
			" ORDER BY " + p.indexOrder("t", d) + fmt.Sprintf(" LIMIT %d) AS t", ScanBudget+1) + " CROSS JOIN users AS u",
		[]string{"u.instance_id = $1", "u.id = t.user_id"}
}

// countQuery counts the index entries of an ordered drive without
// residual filters, up to CountCap+1.
func (p *searchPlan) countQuery() query {
	args, arg := p.newArgs()
	d := p.drive
	q := fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s AS d%s WHERE %s ORDER BY %s LIMIT %d) AS c",
		d.table, p.indexedBy(d.index), strings.Join(p.driveConds("d", arg), " AND "), p.indexOrder("d", d), CountCap+1)
	return query{q, *args}
}

// continuation selects the sort key of the ScanBudget-th candidate after
// c: where a page whose candidates ran out of budget ends.
func (p *searchPlan) continuation(c *cursor, createdKey int64) query {
	args, arg := p.newArgs()
	d, id := p.drive, idColumn(p.drive.table)
	conds := p.driveConds("d", arg)
	if c != nil {
		conds = append(conds, p.after("d", id, c, createdKey, arg))
	}
	cols := "d.login_name_lower, d." + id
	if !p.login {
		cols = "d.created_at, d." + id
	}
	q := fmt.Sprintf("SELECT %s FROM %s AS d%s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d",
		cols, d.table, p.indexedBy(d.index), strings.Join(conds, " AND "), p.indexOrder("d", d), ScanBudget-1)
	return query{q, *args}
}

// fewMatches reports whether the drive a reads at most ScanBudget entries,
// counting them in its index alone.
func (p *searchPlan) fewMatches(ctx context.Context, db *database.DB, a *access) (bool, error) {
	args, arg := p.newArgs()
	conds := append([]string{"d.instance_id = $1"}, a.conds("d", arg)...)
	q := fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s AS d%s WHERE %s ORDER BY %s LIMIT %d) AS c",
		a.table, p.indexedBy(a.index), strings.Join(conds, " AND "), p.indexOrder("d", a), ScanBudget+1)
	var n int
	if err := db.IndexReader().QueryRowContext(ctx, q, *args...).Scan(&n); err != nil {
		return false, fmt.Errorf("user: search: %w", err)
	}
	return n <= ScanBudget, nil
}

// equal is the condition column = value of a drive's index. On
// PostgreSQL it is written as a range of one value: PostgreSQL drops a
// column equal to a constant from the order a plan must produce, so that
// an index walked in the sort order with a filter would do as well as the
// drive's index, by statistics alone; with a range the drive's index is
// the only one in the order asked for.
func equal(dialect database.Dialect, column string, value any) []func(string, func(any) string) string {
	return []func(string, func(any) string) string{func(alias string, arg func(any) string) string {
		if dialect == database.Postgres {
			v := arg(value)
			return alias + "." + column + " >= " + v + " AND " + alias + "." + column + " <= " + v
		}
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

func residualEq(column string, value any) func(func(any) string) string {
	return func(arg func(any) string) string { return "u." + column + " = " + arg(value) }
}

// planSearch chooses how s is read: the first filter with an ordered
// access by this priority — exact login name, email, trait equality,
// organization, state, type — or a walk of the sort order; and, when
// that leaves residual filters on more than ScanBudget candidates, the
// first other filter with at most ScanBudget matches instead.
func planSearch(ctx context.Context, db *database.DB, instanceID string, s Search, login bool) (*searchPlan, error) {
	p := &searchPlan{dialect: db.Dialect, instanceID: instanceID, login: login, desc: s.Descending}
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
		f := &filter{residual: residualEq("login_name_lower", k), selective: true, unordered: a}
		if login {
			f.ordered = a
		}
		add(f)
	}
	if s.Email != "" {
		e := strings.ToLower(s.Email)
		add(&filter{residual: residualEq("email_lower", e), selective: true,
			ordered:   users("users_email", "users_email_created", eq("email_lower", e)),
			unordered: &access{table: "users", index: "users_email", conds: eq("email_lower", e)}})
	}
	for _, t := range s.Traits {
		if t.Prefix {
			continue
		}
		ptr, v := t.Pointer, t.Value
		c := conds(equal(db.Dialect, "pointer", ptr), equal(db.Dialect, "value", v))
		add(&filter{selective: true, residual: traitResidual(ptr, v, false),
			ordered:   &access{table: "user_traits", index: byOrder("user_traits_login", "user_traits_created"), ordered: true, conds: c},
			unordered: &access{table: "user_traits", index: "user_traits_login", conds: c}})
	}
	if s.OrgID != "" {
		add(&filter{residual: residualEq("org_id", s.OrgID), selective: true,
			ordered:   users("users_org", "users_org_created", eq("org_id", s.OrgID)),
			unordered: &access{table: "users", index: "users_org", conds: eq("org_id", s.OrgID)}})
	}
	if s.State != "" {
		add(&filter{residual: residualEq("state", string(s.State)), selective: true,
			ordered:   users("users_state", "users_state_created", eq("state", string(s.State))),
			unordered: &access{table: "users", index: "users_state", conds: eq("state", string(s.State))}})
	}
	if s.Type != "" {
		add(&filter{residual: residualEq("schema_type", s.Type), selective: true,
			ordered:   users("users_type", "users_type_created", eq("schema_type", s.Type)),
			unordered: &access{table: "users", index: "users_type", conds: eq("schema_type", s.Type)}})
	}
	var loginPrefix *filter
	if s.LoginNamePrefix != "" {
		k := loginNamePrefixKey(s.LoginNamePrefix)
		r := prefixRange("login_name_lower", k)
		loginPrefix = add(&filter{
			residual: func(arg func(any) string) string { return strings.Join(r("u", arg), " AND ") },
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
		add(&filter{residual: traitResidual(ptr, v, true),
			unordered: &access{table: "user_traits", index: "user_traits_login", conds: conds(equal(db.Dialect, "pointer", ptr),
				[]func(string, func(any) string) string{func(alias string, arg func(any) string) string {
					return alias + ".value >= " + arg(v) + " AND " + alias + ".value < " + arg(upperBound(v))
				}})}})
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
	}
	// A login name prefix narrows the range of an index sorted by login
	// name after its equality columns.
	if loginPrefix != nil && login && p.drive != loginPrefix.ordered {
		p.loginRange = loginPrefix
	}
	setResidual := func() {
		p.residual = nil
		for _, f := range filters {
			if !contains(p.drive.absorbs, f) && f != p.loginRange {
				p.residual = append(p.residual, f)
			}
		}
	}
	setResidual()
	if len(p.residual) == 0 {
		return p, nil
	}
	// Residual filters on many candidates may leave a page short; a filter
	// with few matches reads them all instead.
	if few, err := p.fewMatches(ctx, db, p.drive); err != nil || few {
		return p, err
	}
	for _, f := range filters {
		if f.unordered == nil || contains(p.drive.absorbs, f) {
			continue
		}
		few, err := p.fewMatches(ctx, db, f.unordered)
		if err != nil {
			return nil, err
		}
		if few {
			p.drive, p.loginRange = f.unordered, nil
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

// traitResidual checks a trait filter on the user aliased u through the
// primary key of user_traits.
func traitResidual(pointer, value string, prefix bool) func(func(any) string) string {
	return func(arg func(any) string) string {
		var cond string
		if prefix {
			cond = "x.value >= " + arg(value) + " AND x.value < " + arg(upperBound(value))
		} else {
			cond = "x.value = " + arg(value)
		}
		return "EXISTS (SELECT 1 FROM user_traits AS x WHERE x.instance_id = $1 AND x.user_id = u.id AND x.pointer = " + arg(pointer) + " AND " + cond + ")"
	}
}
