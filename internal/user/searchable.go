package user

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// checkSearchable refuses trait filters on fields role may not read, so
// that a hidden field (an answer to a security question readable only by
// the user itself, say) cannot be recovered value by value or prefix by
// prefix through which users a search returns, or through its total.
//
// Users keep the schema revision they were written with, so a filter is
// allowed only when role may read its field in every revision of every
// user type the search reaches (only the named type's when the search
// names one). A pointer no revision declares follows the permission of its
// nearest declared parent, as FilterReadable does.
//
// A filter on a readable field is then allowed only when every user type
// the search reaches whose users may hold the field indexes it
// (user_search_fields: its latest revision marks it "search": true);
// others are refused naming the filter and the type, since finding them
// would read every user.
func checkSearchable(ctx context.Context, db *database.DB, instanceID string, s Search, role userschema.Role) error {
	if len(s.Traits) == 0 {
		return nil
	}
	revisions, err := usertype.Revisions(ctx, db, instanceID, s.Type)
	if err != nil {
		return err
	}
	for i, f := range s.Traits {
		for _, r := range revisions {
			if !r.Schema.Readable(f.Pointer, role) {
				e := failure.PermissionDenied("%s is not readable by %s in user type %s, so it cannot be searched", f.Pointer, role, r.TypeName)
				e.Field = fmt.Sprintf("traits[%d].pointer", i)
				return e
			}
		}
	}
	indexed, err := indexedFields(ctx, db, instanceID)
	if err != nil {
		return err
	}
	for i, f := range s.Traits {
		for _, r := range revisions {
			if r.Schema.MayHold(f.Pointer) && !indexed[r.Schema.ID()][f.Pointer] {
				return failure.InvalidArgument(fmt.Sprintf("traits[%d].pointer", i),
					"%s is not searchable in user type %s: its schema must mark the field \"search\": true", f.Pointer, r.TypeName)
			}
		}
	}
	return nil
}

// indexedFields returns the pointers user_traits holds, by user type id.
func indexedFields(ctx context.Context, db *database.DB, instanceID string) (map[string]map[string]bool, error) {
	rows, err := db.ReadQuery(ctx, `SELECT schema_id, pointer FROM user_search_fields WHERE instance_id = $1`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("user: search fields: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var id, p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, err
		}
		if out[id] == nil {
			out[id] = map[string]bool{}
		}
		out[id][p] = true
	}
	return out, rows.Err()
}
