package eventstore

import (
	"context"
	"fmt"

	"github.com/castellan-iam/castellan/internal/database"
)

// ReplaceUnique replaces every claim of kind, in every instance, by the
// rows query selects as columns instance_id, scope and value — typically a
// rebuilt read model. It is for the day the form a value is claimed in
// changes (login names compared under a new normalization): the stored
// claims then follow the rows, which were recomputed from the events. Call
// it from a RebuildFinisher, where appends wait.
func ReplaceUnique(ctx context.Context, tx *database.Tx, kind, query string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM unique_constraints WHERE kind = $1`, kind); err != nil {
		return fmt.Errorf("eventstore: release claims of %s: %w", kind, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO unique_constraints (instance_id, kind, scope, value)
SELECT claims.instance_id, CAST($1 AS TEXT), claims.scope, claims.value FROM (`+query+`) AS claims`, kind); err != nil {
		return fmt.Errorf("eventstore: claim %s anew: %w", kind, err)
	}
	return nil
}
