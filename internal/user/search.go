package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Search costs what its page costs, not what the directory holds (see
// doc.go, "Search"). Its limits:
const (
	// CountCap is how far a search counts its matches: above it, Total
	// is CountCap and TotalIsLowerBound is set.
	CountCap = 1_000
	// ScanBudget is how many candidates a page examines row by row for
	// the filters its index does not answer; a page that reaches it may
	// hold fewer users than asked for, and continues after the last
	// candidate examined.
	ScanBudget = 1_000
	// MaxTraitFilters is the most trait filters of one search.
	MaxTraitFilters = 8
	// MaxFilterValue is the longest value of a filter, in bytes.
	MaxFilterValue = 1024
)

// TraitFilter matches users whose trait at Pointer equals Value, or starts
// with it when Prefix is set. Pointer must be marked "search": true by the
// schema of every user type the search reaches.
type TraitFilter struct {
	Pointer string
	Value   string
	Prefix  bool
}

// Search selects users. Every set field narrows the result.
type Search struct {
	OrgID           string
	Type            string
	State           State
	LoginName       string // exact, case-insensitive
	LoginNamePrefix string // case-insensitive
	Email           string // exact, case-insensitive
	Traits          []TraitFilter
	// SortBy is "loginName" (default) or "createdAt".
	SortBy     string
	Descending bool
	// Cursor continues a previous page; Limit is 1 to 1000 (default 50).
	Cursor string
	Limit  int
}

// Page is one page of a search. It may hold fewer users than the limit
// and still have a NextCursor: when its candidates ran out of ScanBudget.
type Page struct {
	Users      []User
	NextCursor string
	// Total counts the users matching the filters, across pages: as of
	// the first page on a Searcher's later pages, as of this page on
	// Find's. When TotalIsLowerBound is set, at least Total users match:
	// the count stopped at CountCap, or at ScanBudget candidates for
	// filters no index answers together.
	Total             int
	TotalIsLowerBound bool
}

// upperBound is the smallest string greater than every string starting
// with prefix, in byte order (the collation of the indexed columns).
func upperBound(prefix string) string { return prefix + "\U0010FFFF" }

// checkSearch refuses searches whose cost is not bounded by their page.
func checkSearch(s Search) error {
	if len(s.Traits) > MaxTraitFilters {
		return failure.InvalidArgument("traits", "at most %d trait filters", MaxTraitFilters)
	}
	for field, v := range map[string]string{"organizationId": s.OrgID, "type": s.Type, "loginName": s.LoginName,
		"loginNamePrefix": s.LoginNamePrefix, "email": s.Email} {
		if len(v) > MaxFilterValue {
			return failure.InvalidArgument(field, "at most %d bytes", MaxFilterValue)
		}
	}
	for i, t := range s.Traits {
		if !strings.HasPrefix(t.Pointer, "/") {
			return failure.InvalidArgument(fmt.Sprintf("traits[%d].pointer", i), "a JSON pointer starting with /")
		}
		if len(t.Pointer) > MaxFilterValue || len(t.Value) > MaxFilterValue {
			return failure.InvalidArgument(fmt.Sprintf("traits[%d]", i), "pointer and value of at most %d bytes", MaxFilterValue)
		}
	}
	return nil
}

// Find runs a search, filtered for role. Its cursors carry the first
// page's total, authenticated (see cursor.go).
func (sr *Searcher) Find(ctx context.Context, instanceID string, s Search, role userschema.Role) (Page, error) {
	db := sr.db
	limit := s.Limit
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 1000 {
		return Page{}, failure.InvalidArgument("limit", "between 1 and 1000")
	}
	if err := checkSearch(s); err != nil {
		return Page{}, err
	}
	if err := sr.checkSearchable(ctx, instanceID, s, role); err != nil {
		return Page{}, err
	}
	key := "login_name_lower"
	switch s.SortBy {
	case "", "loginName":
	case "createdAt":
		key = "created_at"
	default:
		return Page{}, failure.InvalidArgument("sortBy", "loginName or createdAt")
	}
	scope := newSearchScope(instanceID, s, key, role)
	var (
		c         *cursor
		createdAt int64
		page      Page
		counted   bool // the cursor carries an authenticated total
	)
	if s.Cursor != "" {
		dc, ok, err := sr.decodeCursor(scope, s.Cursor)
		if err != nil {
			return Page{}, err
		}
		c, counted = &dc, ok
		page.Total, page.TotalIsLowerBound = dc.Total, dc.LowerBound
		if key == "created_at" {
			if _, err := fmt.Sscan(c.Key, &createdAt); err != nil {
				return Page{}, failure.InvalidArgument("cursor", "not a cursor of a search sorted by createdAt")
			}
		}
	}
	p, err := planSearch(ctx, db, sr.cache, instanceID, s, key == "login_name_lower")
	if err != nil {
		return Page{}, err
	}
	p.limit = limit
	// With a key ring the total is counted for the first page only; later
	// pages report the count their authenticated cursor carries, so a deep
	// page costs what a first page does. Only an ordered read without
	// residual filters counts apart, in its index (a subquery of the page's
	// statement: one round trip); an unordered one counts its candidates
	// (or its plan did), and one with residual filters reports what its
	// page found.
	countApart := len(p.residual) == 0 && p.drive.ordered
	withCount := !counted && countApart
	q := p.pageQuery(c, createdAt, withCount)
	rows, err := db.IndexQuery(ctx, q.sql, q.args...)
	if err != nil {
		return Page{}, fmt.Errorf("user: search: %w", err)
	}
	defer rows.Close()
	var (
		lastKey, nextKey, nextID string
		candidates               int // of an unordered read, counted by the query
		total                    int // withCount's
	)
	// One row more than the limit tells that there is a next page.
	var sortKey any
	extra := []any{&sortKey}
	if !p.drive.ordered {
		extra = append(extra, &candidates)
	}
	if withCount {
		extra = append(extra, &total)
	}
	scan := newUserScan(extra...)
	page.Users = make([]User, 0, min(limit+1, 128))
	for rows.Next() {
		u, err := scan.scan(instanceID, rows.Scan)
		if err != nil {
			return Page{}, err
		}
		page.Users = append(page.Users, u)
		if len(page.Users) > limit {
			page.Users = page.Users[:limit]
			nextKey, nextID = lastKey, page.Users[limit-1].ID
			break
		}
		lastKey = sortKeyString(sortKey)
	}
	if err := rows.Err(); err != nil {
		return Page{}, err
	}
	rows.Close()
	if withCount {
		if len(page.Users) == 0 && c != nil {
			// No row to carry the count: matches may precede the cursor.
			q := p.countQuery()
			if err := db.IndexQueryRow(ctx, q.sql, q.args...).Scan(&total); err != nil {
				return Page{}, fmt.Errorf("user: count: %w", err)
			}
		}
		page.Total, page.TotalIsLowerBound = min(total, CountCap), total > CountCap
	}
	if nextID == "" && len(p.residual) > 0 && p.drive.ordered {
		// The page examined ScanBudget candidates at most: when there were
		// more, the next page starts after the last one examined.
		q := p.continuation(c, createdAt)
		var k any
		err := db.IndexQueryRow(ctx, q.sql, q.args...).Scan(&k, &nextID)
		switch {
		case err == nil:
			nextKey = sortKeyString(k)
		case !isNoRows(err):
			return Page{}, fmt.Errorf("user: search: %w", err)
		}
	}
	if !counted && !countApart {
		switch {
		case !p.drive.ordered && c == nil:
			// candidates counts the matches after the page's cursor; the
			// first page's are all of them.
			page.Total = candidates
		case !p.drive.ordered:
			page.Total, page.TotalIsLowerBound = candidates, true
		default:
			page.Total, page.TotalIsLowerBound = len(page.Users), nextID != ""
		}
	}
	if nextID != "" {
		if page.NextCursor, err = sr.encodeCursor(scope, nextKey, nextID, page); err != nil {
			return Page{}, err
		}
	}
	schemas := map[schemaRevision]*userschema.Schema{} // a page holds few types: compile each once
	for i := range page.Users {
		if page.Users[i], err = filterTraitsWith(ctx, db, page.Users[i], role, schemas); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func sortKeyString(k any) string {
	if b, ok := k.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(k)
}
