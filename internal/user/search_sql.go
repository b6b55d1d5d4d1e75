package user

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/castellan-iam/castellan/internal/database"
)

// The SQL of a search plan (search_plan.go): its orders, conditions and
// statements — the page, its count, where a short page continues, and the
// count that decides whether a filter's matches are few.

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

// pageColumns are userColumns of the users table as u, the page's (made
// once: a search built them anew, a twentieth of what it allocated).
var pageColumns = func() string {
	cols := strings.Split(userColumns, ",")
	for i, c := range cols {
		cols[i] = "u." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

// driveConds are the conditions of the drive's index on alias, with the
// login name range when the drive answers it.
func (p *searchPlan) driveConds(alias string, arg func(any) string) []string {
	conds := append([]string{alias + ".instance_id = $1"}, p.drive.conds(alias, arg)...)
	if p.loginRange != nil {
		conds = append(conds, p.loginRange.ordered.conds(alias, arg)...)
	}
	return conds
}

func (p *searchPlan) residualConds(c string, arg func(any) string) []string {
	conds := make([]string, len(p.residual))
	for i, f := range p.residual {
		conds[i] = f.residual(c, arg)
	}
	return conds
}

// candidateKeys are the columns a read selects of each candidate: its
// position in the page's order, which every index of the order holds, so
// that residual filters are checked by probing their own indexes with it
// (index entries only, never a users row) and only the page's users are
// read. By login name: the login name (unique); by creation: time and id.
func (p *searchPlan) candidateKeys(alias, table string) string {
	if p.login {
		return alias + ".login_name_lower"
	}
	return alias + ".created_at, " + alias + "." + idColumn(table) + " AS id"
}

// joinUsers joins the users of candidates aliased c, by their keys.
func (p *searchPlan) joinUsers() string {
	if p.login {
		return " CROSS JOIN users AS u" + p.indexedBy("users_login_name") + " WHERE u.instance_id = $1 AND u.login_name_lower = c.login_name_lower"
	}
	return " CROSS JOIN users AS u WHERE u.instance_id = $1 AND u.id = c.id"
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
// then their sort key, limit+1 rows at most. With count (an ordered drive
// without residual filters only), each row carries the count of
// countQuery as its last column, in the same statement: one round trip.
func (p *searchPlan) pageQuery(c *cursor, createdKey int64, count bool) query {
	args, arg := p.newArgs()
	d, id := p.drive, idColumn(p.drive.table)
	key := "u.login_name_lower"
	if !p.login {
		key = "u.created_at"
	}
	sel := "SELECT " + pageColumns + ", " + key
	if count {
		sel += ", (" + p.countSQL(arg) + ")"
	}
	switch {
	case d.ordered && d.table == "users" && len(p.residual) == 0:
		conds := p.driveConds("u", arg)
		if c != nil {
			conds = append(conds, p.after("u", "id", c, createdKey, arg))
		}
		return query{sel + " FROM users AS u" + p.indexedBy(d.index) + " WHERE " + strings.Join(conds, " AND ") +
			" ORDER BY " + p.indexOrder("u", d) + fmt.Sprintf(" LIMIT %d", p.limit+1), *args}
	case d.ordered:
		// Candidates in the page's order, at most ScanBudget of them when
		// residual filters may reject some; users read for the page only.
		conds := p.driveConds("d", arg)
		if c != nil {
			conds = append(conds, p.after("d", id, c, createdKey, arg))
		}
		scan := p.limit + 1
		if len(p.residual) > 0 {
			scan = ScanBudget
		}
		order := p.orderBy("c", "id")
		where := ""
		if len(p.residual) > 0 {
			where = " WHERE " + strings.Join(p.residualConds("c", arg), " AND ")
		}
		candidates := "(SELECT " + p.candidateKeys("d", d.table) + " FROM " + d.table + " AS d" + p.indexedBy(d.index) +
			" WHERE " + strings.Join(conds, " AND ") + " ORDER BY " + p.indexOrder("d", d) + fmt.Sprintf(" LIMIT %d) AS c", scan)
		return query{sel + " FROM (SELECT * FROM " + candidates + where + " ORDER BY " + order + fmt.Sprintf(" LIMIT %d) AS c", p.limit+1) +
			p.joinUsers() + " ORDER BY " + order + fmt.Sprintf(" LIMIT %d", p.limit+1), *args}
	case len(p.residual) == 0:
		// Few candidates, all of them matches (counted by the plan): the
		// page's are the first after the cursor in the page's order, a
		// sort that keeps only them.
		after := ""
		if c != nil {
			after = " WHERE " + p.after("c", "id", c, createdKey, arg)
		}
		// The count is an argument: a statement's text depends on the
		// search's shape only, so that it stays prepared (a literal made
		// one statement per total, each parsed and planned anew).
		candidates := p.fewCandidates(arg)
		return query{sel + ", CAST(" + arg(p.candidates) + " AS INTEGER) FROM (SELECT * FROM " + candidates + after +
			" ORDER BY " + p.orderBy("c", "id") + fmt.Sprintf(" LIMIT %d) AS c", p.limit+1) +
			p.joinUsers() + " ORDER BY " + p.orderBy("c", "id") + fmt.Sprintf(" LIMIT %d", p.limit+1), *args}
	default:
		// Few candidates: all read (index entries), checked, counted,
		// sorted and cut to the page before users are read.
		var after string
		conds := p.residualConds("c", arg)
		if c != nil {
			conds = append(conds, p.after("c", "id", c, createdKey, arg))
		}
		if len(conds) > 0 {
			after = " WHERE " + strings.Join(conds, " AND ")
		}
		candidates := p.fewCandidates(arg)
		return query{sel + ", c.n FROM (SELECT c.*, count(*) OVER () AS n FROM " + candidates + after +
			" ORDER BY " + p.orderBy("c", "id") + fmt.Sprintf(" LIMIT %d) AS c", p.limit+1) +
			p.joinUsers() + " ORDER BY " + p.orderBy("c", "id") + fmt.Sprintf(" LIMIT %d", p.limit+1), *args}
	}
}

// fewCandidates reads every entry of an unordered drive (at most
// ScanBudget+1) as the candidates c.
func (p *searchPlan) fewCandidates(arg func(any) string) string {
	d := p.drive
	return "(SELECT " + p.candidateKeys("d", d.table) + " FROM " + d.table + " AS d" + p.indexedBy(d.index) +
		" WHERE " + strings.Join(p.driveConds("d", arg), " AND ") + " ORDER BY " + p.indexOrder("d", d) + fmt.Sprintf(" LIMIT %d) AS c", ScanBudget+1)
}

// countQuery counts the index entries of an ordered drive without
// residual filters, up to CountCap+1.
func (p *searchPlan) countQuery() query {
	args, arg := p.newArgs()
	q := p.countSQL(arg)
	return query{q, *args}
}

func (p *searchPlan) countSQL(arg func(any) string) string {
	d := p.drive
	return fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s AS d%s WHERE %s ORDER BY %s LIMIT %d) AS c",
		d.table, p.indexedBy(d.index), strings.Join(p.driveConds("d", arg), " AND "), p.indexOrder("d", d), CountCap+1)
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

// countOf is the statement counting a's entries up to ScanBudget+1.
func (p *searchPlan) countOf(a *access) query {
	args, arg := p.newArgs()
	conds := append([]string{"d.instance_id = $1"}, a.conds("d", arg)...)
	q := fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s AS d%s WHERE %s ORDER BY %s LIMIT %d) AS c",
		a.table, p.indexedBy(a.index), strings.Join(conds, " AND "), p.indexOrder("d", a), ScanBudget+1)
	return query{q, *args}
}

// fewMatches counts the entries the drive a reads, in its index alone, up
// to ScanBudget+1, and reports whether they are at most ScanBudget; a
// count of many the cache remembers is not read again (SearchCache).
func (p *searchPlan) fewMatches(ctx context.Context, db *database.DB, a *access) (int, bool, error) {
	q := p.countOf(a)
	if p.cache.isMany(q) {
		return ScanBudget + 1, false, nil
	}
	var n int
	if err := db.IndexQueryRow(ctx, q.sql, q.args...).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("user: search: %w", err)
	}
	if n > ScanBudget {
		p.cache.rememberMany(q)
	}
	return n, n <= ScanBudget, nil
}

// endsOf selects the least and the greatest value of a's range (an access
// with a one): two seeks of its index.
func (p *searchPlan) endsOf(a *access) query {
	args, arg := p.newArgs()
	conds := strings.Join(append([]string{"d.instance_id = $1"}, a.conds("d", arg)...), " AND ")
	cols := indexColumns[a.index]
	order := func(dir string) string {
		out := make([]string, len(cols))
		for i, c := range cols {
			out[i] = "d." + c + dir
		}
		return strings.Join(out, ", ")
	}
	end := func(dir string) string {
		return fmt.Sprintf("(SELECT d.value FROM %s AS d%s WHERE %s ORDER BY %s LIMIT 1)", a.table, p.indexedBy(a.index), conds, order(dir))
	}
	return query{"SELECT " + end(" ASC") + ", " + end(" DESC"), *args}
}

// oneValue reports the value every entry of a's range has, when there is
// one: its least and greatest are the same.
func (p *searchPlan) oneValue(ctx context.Context, db *database.DB, a *access) (string, bool, error) {
	q := p.endsOf(a)
	var least, greatest sql.NullString
	if err := db.IndexQueryRow(ctx, q.sql, q.args...).Scan(&least, &greatest); err != nil {
		return "", false, fmt.Errorf("user: search: %w", err)
	}
	return least.String, least.Valid && least == greatest, nil
}
