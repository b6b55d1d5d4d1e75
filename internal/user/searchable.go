package user

import (
	"context"
	"fmt"
	"strings"

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
func checkSearchable(ctx context.Context, db *database.DB, instanceID string, s Search, role userschema.Role) error {
	if len(s.Traits) == 0 {
		return nil
	}
	revisions, err := usertype.Revisions(ctx, db, instanceID, s.Type)
	if err != nil {
		return err
	}
	for i, f := range s.Traits {
		if !strings.HasPrefix(f.Pointer, "/") {
			continue // Find refuses it, naming the filter
		}
		for _, r := range revisions {
			if !r.Schema.Readable(f.Pointer, role) {
				e := failure.PermissionDenied("%s is not readable by %s in user type %s, so it cannot be searched", f.Pointer, role, r.TypeName)
				e.Field = fmt.Sprintf("traits[%d].pointer", i)
				return e
			}
		}
	}
	return nil
}
