package org

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
)

// ListQuery selects organizations of an instance. Every set field narrows
// the result; removed organizations are never listed.
type ListQuery struct {
	// NamePrefix keeps names starting with it, compared byte by byte.
	NamePrefix string
	// State is StateActive, StateInactive, or "" for both.
	State State
	// OrgIDs, when not nil, keeps only these organizations: the ones a
	// caller may read. An empty, non-nil slice lists nothing.
	OrgIDs []string
	// PageSize is 1 to 1000, 50 when 0. PageToken continues the page that
	// returned it as NextPageToken.
	PageSize  int
	PageToken string
}

// ListPage is one page of organizations, without domains and metadata.
type ListPage struct {
	Orgs          []Org
	NextPageToken string
	// TotalSize counts every organization matching the query, on all pages.
	TotalSize int
}

// listCursor is the last (name, id) of a page; the next page starts after
// it in the list's order.
type listCursor struct {
	Name string `json:"n"`
	ID   string `json:"i"`
}

// List pages through organizations sorted by name, then id, along the
// index orgs_name (instance_id, name).
func List(ctx context.Context, db *database.DB, instanceID string, q ListQuery) (ListPage, error) {
	size := q.PageSize
	if size == 0 {
		size = 50
	}
	if size < 1 || size > 1000 {
		return ListPage{}, failure.InvalidArgument("pageSize", "between 1 and 1000")
	}
	if q.State != "" && q.State != StateActive && q.State != StateInactive {
		return ListPage{}, failure.InvalidArgument("state", "%q is not a state to list", q.State)
	}
	var after *listCursor
	if q.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.PageToken)
		after = new(listCursor)
		if err != nil || json.Unmarshal(raw, after) != nil || after.ID == "" {
			return ListPage{}, failure.InvalidArgument("pageToken", "not a token this list returned")
		}
	}
	if q.OrgIDs != nil && len(q.OrgIDs) == 0 {
		return ListPage{}, nil
	}

	where, args := []string{"instance_id = $1", "state <> $2"}, []any{instanceID, string(StateRemoved)}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.State != "" {
		where = append(where, "state = "+arg(string(q.State)))
	}
	if q.NamePrefix != "" {
		// A range rather than LIKE, so that the index serves it. U+10FFFF
		// sorts after every character that can follow the prefix.
		where = append(where, "name >= "+arg(q.NamePrefix)+" AND name < "+arg(q.NamePrefix+"\U0010FFFF"))
	}
	if q.OrgIDs != nil {
		ids := make([]string, len(q.OrgIDs))
		for i, id := range q.OrgIDs {
			ids[i] = arg(id)
		}
		where = append(where, "id IN ("+strings.Join(ids, ", ")+")")
	}
	filter := strings.Join(where, " AND ")
	page := ListPage{}
	if err := db.Reader().QueryRowContext(ctx, `SELECT count(*) FROM orgs WHERE `+filter, args...).Scan(&page.TotalSize); err != nil {
		return ListPage{}, fmt.Errorf("org: count: %w", err)
	}
	if after != nil {
		// name >= n leads, so that the index range starts at the cursor.
		n, i := arg(after.Name), arg(after.ID)
		filter += fmt.Sprintf(" AND name >= %s AND (name > %s OR id > %s)", n, n, i)
	}
	rows, err := db.Reader().QueryContext(ctx, `SELECT id, name, state, primary_domain, created_at, changed_at, sequence FROM orgs WHERE `+
		filter+fmt.Sprintf(` ORDER BY name, id LIMIT %d`, size+1), args...)
	if err != nil {
		return ListPage{}, fmt.Errorf("org: list: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if len(page.Orgs) == size {
			last := page.Orgs[size-1]
			b, _ := json.Marshal(listCursor{Name: last.Name, ID: last.ID})
			page.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
			break
		}
		o := Org{InstanceID: instanceID}
		var state string
		var created, changed int64
		if err := rows.Scan(&o.ID, &o.Name, &state, &o.PrimaryDomain, &created, &changed, &o.Sequence); err != nil {
			return ListPage{}, err
		}
		o.State, o.CreatedAt, o.ChangedAt = State(state), time.UnixMicro(created).UTC(), time.UnixMicro(changed).UTC()
		page.Orgs = append(page.Orgs, o)
	}
	return page, rows.Err()
}
