package usertype

import (
	"errors"
	"fmt"
	"strings"
	"testing"

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
