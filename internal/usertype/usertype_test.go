package usertype

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/failure"
)

// referenceChain is a schema whose $defs form a chain of n links, each an
// anyOf of two references to the next: validating /x would visit the last
// link 2^n times.
func referenceChain(n int) []byte {
	defs := make([]string, 0, n+1)
	for i := range n {
		defs = append(defs, fmt.Sprintf(`"d%d": {"anyOf": [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"d%d": {"type": "string"}`, n))
	return []byte(`{"permission": {"admin": "rw"}, "$defs": {` + strings.Join(defs, ", ") + `}, "properties": {"x": {"$ref": "#/$defs/d0"}}}`)
}

func TestCreationRefusesSchemasThatCannotBeValidatedInBoundedWork(t *testing.T) {
	for _, n := range []int{20, 22} {
		_, err := Creation("instance", fmt.Sprintf("chain-%d", n), "bomb", referenceChain(n))
		var fe *failure.Error
		if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != "/properties/x" || !strings.Contains(fe.Message, "schema checks") {
			t.Errorf("%d links: err = %v, want invalid_argument at /properties/x about schema checks", n, err)
		}
	}
}

func TestDefaultTypesAreWithinTheLimits(t *testing.T) {
	if _, err := DefaultCreations("instance"); err != nil {
		t.Fatal(err)
	}
}

func TestStoredRevisionsCompileDespiteNewLimits(t *testing.T) {
	stored := Type{ID: "stored-chain", Revision: 1, Document: referenceChain(22)}
	s, err := stored.Schema()
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if err := s.Validate([]byte(`{"x": "s"}`)); !failure.Is(err, failure.KindInvalidArgument) {
		t.Errorf("Validate = %v, want invalid_argument", err)
	}
}

// Compiled remembers revisions by instance, type id and revision: the same
// type id in another instance is another revision.
func TestCompiledKeepsInstancesApart(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			db := backend.New(t).Open(t, Migrations)
			ctx := context.Background()
			id := "shared-" + backend.Name
			docs := map[string]string{
				"instance-a": `{"permission": {"admin": "rw"}, "additionalProperties": false, "properties": {"a": {"type": "string"}}}`,
				"instance-b": `{"permission": {"admin": "rw"}, "additionalProperties": false, "properties": {"b": {"type": "string"}}}`,
			}
			err := db.InTx(ctx, func(tx *database.Tx) error {
				for inst, doc := range docs {
					if _, err := tx.ExecContext(ctx, `INSERT INTO user_schema_revisions (instance_id, schema_id, revision, document) VALUES ($1, $2, 1, $3)`,
						inst, id, doc); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second time from the cache
				for inst, field := range map[string]string{"instance-a": "/a", "instance-b": "/b"} {
					s, err := Compiled(ctx, db, inst, id, 1)
					if err != nil {
						t.Fatal(err)
					}
					if !s.MayHold(field) || s.MayHold(map[string]string{"/a": "/b", "/b": "/a"}[field]) {
						t.Errorf("%s: the revision compiled is not the instance's own", inst)
					}
				}
			}
			if _, err := Compiled(ctx, db, "instance-c", id, 1); !failure.Is(err, failure.KindNotFound) {
				t.Errorf("another instance's revision: err = %v, want not_found", err)
			}
		})
	}
}
