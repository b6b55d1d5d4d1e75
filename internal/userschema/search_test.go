package userschema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

func TestSearchFields(t *testing.T) {
	s, err := compile("search", 1, []byte(`{
		"permission": {"admin": "rw"},
		"properties": {
			"employee_id": {"type": "string", "search": true},
			"band": {"type": "integer", "search": true},
			"note": {"type": "string", "search": false},
			"a/b": {"type": "object", "properties": {"active": {"type": "boolean", "search": true}}}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.SearchFields(), []string{"/a~1b/active", "/band", "/employee_id"}; !slices.Equal(got, want) {
		t.Fatalf("search fields %v, want %v", got, want)
	}
	if !s.Searchable("/band") || s.Searchable("/note") {
		t.Fatal("Searchable disagrees with SearchFields")
	}

	many := make([]string, MaxSearchFields+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"f%02d": {"type": "string", "search": true}`, i)
	}
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"fail/an object cannot be searched", `{"properties": {"o": {"type": "object", "search": true}}}`, "/properties/o/search"},
		{"fail/search is a boolean", `{"properties": {"s": {"type": "string", "search": "yes"}}}`, "/properties/s/search"},
		{"fail/not on the root", `{"search": true, "properties": {}}`, "/search"},
		{"fail/not inside items", `{"properties": {"l": {"type": "array", "items": {"type": "string", "search": true}}}}`, "/properties/l/items/search"},
		{"fail/at most MaxSearchFields", `{"properties": {` + strings.Join(many, ",") + `}}`, fmt.Sprintf("/properties/f%02d/search", MaxSearchFields)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(tc.doc, `{`, `{"permission": {"admin": "rw"}, `, 1)
			_, err := compile("bad", 1, []byte(doc))
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || fe.Field != tc.field {
				t.Fatalf("got %v (field %q), want invalid argument at %s", err, fieldOf(err), tc.field)
			}
		})
	}
}

func fieldOf(err error) string {
	var fe *failure.Error
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}
