package user

import (
	"context"
	"database/sql"
	"errors"
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
func (sr *Searcher) checkSearchable(ctx context.Context, instanceID string, s Search, role userschema.Role) error {
	if len(s.Traits) == 0 {
		return nil
	}
	var (
		f   *searchable
		err error
	)
	if sr.cache != nil {
		f, err = sr.cache.searchable(ctx, sr.db, instanceID)
	} else {
		f, err = loadSearchable(ctx, sr.db, instanceID)
	}
	if err != nil {
		return err
	}
	reached := func(r usertype.Revision) bool { return s.Type == "" || r.TypeName == s.Type }
	for i, t := range s.Traits {
		for _, r := range f.revisions {
			if reached(r) && !r.Schema.Readable(t.Pointer, role) {
				e := failure.PermissionDenied("%s is not readable by %s in user type %s, so it cannot be searched", t.Pointer, role, r.TypeName)
				e.Field = fmt.Sprintf("traits[%d].pointer", i)
				return e
			}
		}
	}
	for i, t := range s.Traits {
		for _, r := range f.revisions {
			if reached(r) && r.Schema.MayHold(t.Pointer) && !f.indexed[r.Schema.ID()][t.Pointer] {
				return failure.InvalidArgument(fmt.Sprintf("traits[%d].pointer", i),
					"%s is not searchable in user type %s: its schema must mark the field \"search\": true", t.Pointer, r.TypeName)
			}
		}
	}
	return nil
}

// searchable is what checkSearchable reads of an instance: every revision
// of every user type, and the pointers user_traits holds by type id. It
// is never changed once loaded.
type searchable struct {
	revisions []usertype.Revision
	indexed   map[string]map[string]bool
}

func loadSearchable(ctx context.Context, db *database.DB, instanceID string) (*searchable, error) {
	revisions, err := usertype.Revisions(ctx, db, instanceID)
	if err != nil {
		return nil, err
	}
	rows, err := db.ReadQuery(ctx, `SELECT schema_id, pointer FROM user_search_fields WHERE instance_id = $1`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("user: search fields: %w", err)
	}
	defer rows.Close()
	indexed := map[string]map[string]bool{}
	for rows.Next() {
		var id, p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, err
		}
		if indexed[id] == nil {
			indexed[id] = map[string]bool{}
		}
		indexed[id][p] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return &searchable{revisions: revisions, indexed: indexed}, nil
}

// countSearchChange increments the instance's count of user type
// revisions (user_search_versions), in the transaction of the revision.
func countSearchChange(ctx context.Context, tx *database.Tx, instanceID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO user_search_versions (instance_id, version) VALUES ($1, 1)
ON CONFLICT (instance_id) DO UPDATE SET version = user_search_versions.version + 1`, instanceID)
	return err
}

func searchVersion(ctx context.Context, db *database.DB, instanceID string) (int64, error) {
	var v int64
	err := db.ReadQueryRow(ctx, `SELECT version FROM user_search_versions WHERE instance_id = $1`, instanceID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("user: search version: %w", err)
	}
	return v, nil
}
