package userschema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

// contactSchema exercises most kinds of violation.
const contactSchema = `{
	"permission": {"self": "rw", "admin": "rw"},
	"type": "object",
	"additionalProperties": false,
	"required": ["name", "address"],
	"properties": {
		"name": {"type": "string", "minLength": 2, "maxLength": 10},
		"code": {"type": "string", "pattern": "^[A-Z]{3}$"},
		"homepage": {"type": "string", "format": "uri"},
		"age": {"type": "integer", "minimum": 0, "maximum": 150},
		"score": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5},
		"color": {"enum": ["red", "green"]},
		"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2, "uniqueItems": true},
		"address": {
			"type": "object",
			"additionalProperties": false,
			"required": ["city"],
			"properties": {"city": {"type": "string"}, "zip/code": {"type": "string", "maxLength": 5}}
		}
	}
}`

func TestValidate(t *testing.T) {
	s, err := compile("contact", 1, []byte(contactSchema))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		traits string
		want   []Violation // nil means valid
	}{
		{name: "ok/minimal", traits: `{"name": "Ada", "address": {"city": "London"}}`},
		{name: "ok/every field", traits: `{"name": "Ada", "code": "ABC", "homepage": "https://example.com/ada", "age": 36, "score": 2.5, "color": "red", "tags": ["a", "b"], "address": {"city": "London", "zip/code": "N1"}}`},
		{name: "ok/integers may be written with a fraction of zero", traits: `{"name": "Ada", "age": 36.0, "address": {"city": "London"}}`},
		{
			name:   "fail/every violation is listed with its pointer",
			traits: `{"name": "A", "code": "abc", "homepage": "not a uri", "age": -1, "score": 0.3, "color": "blue", "tags": ["a", "a", "b"], "address": {"zip/code": "1234567"}, "extra": true}`,
			want: []Violation{
				{Pointer: "/address/city", Message: "is required"},
				{Pointer: "/address/zip~1code", Message: "must be at most 5 characters long"},
				{Pointer: "/age", Message: "must be at least 0"},
				{Pointer: "/code", Message: "must match the pattern ^[A-Z]{3}$"},
				{Pointer: "/color", Message: "value must be one of 'red', 'green'"},
				{Pointer: "/extra", Message: "is not allowed by the schema"},
				{Pointer: "/homepage", Message: "must be a valid uri"},
				{Pointer: "/name", Message: "must be at least 2 characters long"},
				{Pointer: "/score", Message: "must be a multiple of 0.5"},
				{Pointer: "/tags", Message: "items at 0 and 1 are equal"},
				{Pointer: "/tags", Message: "must have at most 2 items"},
			},
		},
		{
			name:   "fail/missing required fields",
			traits: `{}`,
			want: []Violation{
				{Pointer: "/address", Message: "is required"},
				{Pointer: "/name", Message: "is required"},
			},
		},
		{
			name:   "fail/wrong types",
			traits: `{"name": 7, "address": [], "age": 1.5}`,
			want: []Violation{
				{Pointer: "/address", Message: "must be object, not array"},
				{Pointer: "/age", Message: "must be integer, not number"},
				{Pointer: "/name", Message: "must be string, not number"},
			},
		},
		{name: "fail/not an object", traits: `["Ada"]`, want: []Violation{{Pointer: "", Message: "traits are a JSON object"}}},
		{name: "fail/null", traits: `null`, want: []Violation{{Pointer: "", Message: "traits are a JSON object"}}},
		{name: "fail/bad JSON", traits: `{"name": "Ada"`, want: []Violation{{Pointer: "", Message: "not valid JSON: unexpected EOF"}}},
		{name: "fail/data after the object", traits: `{"name": "Ada"} {}`, want: []Violation{{Pointer: "", Message: "not valid JSON: data after the JSON value"}}},
		{name: "fail/empty", traits: ``, want: []Violation{{Pointer: "", Message: "not valid JSON: empty document"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate([]byte(tt.traits))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v (%T), want a *ValidationError", err, err)
			}
			if !slices.Equal(verr.Violations, tt.want) {
				t.Errorf("violations:\n got %q\nwant %q", verr.Violations, tt.want)
			}
		})
	}
}

func TestValidationErrorIsInvalidArgument(t *testing.T) {
	s, err := compile("contact", 1, []byte(contactSchema))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate([]byte(`{"name": "A", "address": {"city": "X"}}`))
	if got := failure.KindOf(err); got != failure.KindInvalidArgument {
		t.Errorf("KindOf = %v, want invalid_argument", got)
	}
	if got := failure.KindOf(err).HTTPStatus(); got != 400 {
		t.Errorf("HTTP status = %d, want 400", got)
	}
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Field != "/name" {
		t.Errorf("failure = %+v, want Field /name", fe)
	}
	if !errors.Is(err, failure.InvalidArgument("", "")) {
		t.Error("errors.Is does not match the invalid argument kind")
	}
	if want := "invalid traits: /name: must be at least 2 characters long"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestValidationMessagesDoNotRepeatValues(t *testing.T) {
	s, err := compile("secret", 1, []byte(`{
		"permission": {"self": "w", "admin": "r"},
		"properties": {
			"answer": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
			"mail": {"type": "string", "format": "email"},
			"pin": {"type": "integer", "maximum": 9999},
			"word": {"const": "yes"}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Validate([]byte(`{"answer": "Secret-Pet-Name!", "mail": "Secret-Pet-Name", "pin": 123456789, "word": "Hunter2"}`))
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Violations) != 5 {
		t.Fatalf("err = %v, want 5 violations", err)
	}
	for _, secret := range []string{"Secret-Pet-Name", "123456789", "1.23456789e+08", "Hunter2"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error repeats %q: %v", secret, err)
		}
	}
}

func TestReferenceLoopsAreRefusedWhenCompiled(t *testing.T) {
	loop := []byte(`{"permission": {"admin": "r"}, "properties": {"a": {"$ref": "#/properties/a"}}}`)
	var fe *failure.Error
	if _, err := compile("loop", 1, loop); !errors.As(err, &fe) || fe.Field != "/properties/a" || !strings.Contains(fe.Message, "loop") {
		t.Errorf("err = %v, want the loop at /properties/a", err)
	}
}

// nested returns traits whose value at /a nests levels objects or arrays
// deep, the traits object included.
func nested(levels int, array bool) []byte {
	open, end := `{"a": `, `}`
	if array {
		open, end = `[`, `]`
	}
	return []byte(`{"a": ` + strings.Repeat(open, levels-2) + `{}` + strings.Repeat(end, levels-2) + `}`)
}

func TestValidateRefusesDeepTraits(t *testing.T) {
	s, err := Compile("open", 1, []byte(`{"permission": {"admin": "rw"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		traits []byte
		ok     bool
	}{
		{"ok/objects at the limit", nested(MaxTraitsDepth, false), true},
		{"ok/arrays at the limit", nested(MaxTraitsDepth, true), true},
		{"ok/brackets inside strings do not nest", []byte(`{"a": "` + strings.Repeat("[{", 100) + `\"[{"}`), true},
		{"fail/objects one level deeper", nested(MaxTraitsDepth+1, false), false},
		{"fail/arrays one level deeper", nested(MaxTraitsDepth+1, true), false},
		{"fail/4,900 levels", nested(4900, false), false},
		{"fail/20,000 levels, beyond what the JSON decoder takes", nested(20000, true), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate(tt.traits)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Violations) != 1 || verr.Violations[0].Pointer != "" {
				t.Fatalf("err = %v, want one violation of the whole document", err)
			}
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument || !strings.Contains(fe.Message, fmt.Sprintf("traits nest objects and arrays at most %d levels deep", MaxTraitsDepth)) {
				t.Errorf("failure = %v, want invalid_argument naming the traits and the limit", fe)
			}
		})
	}
}

func TestValidateRefusesNumbersOutOfBounds(t *testing.T) {
	s, err := Compile("numbers", 1, []byte(`{"permission": {"admin": "rw"}, "properties": {
		"n": {"type": "number", "minimum": 0}, "m": {"type": "number", "multipleOf": 0.5}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{`{"n": 1e307}`, `{"n": 9.99e307, "m": 0.5}`, `{"n": 1e-400}`, `{"n": 0e999999999}`, `{"n": 0.` + strings.Repeat("9", 100) + `}`} {
		if err := s.Validate([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	digits := strings.Repeat("3", 100000)
	traits := []byte(`{"n": 1e9999999, "m": 1e-9999999, "x": [1e308, 1` + strings.Repeat("0", 100) + `.1, 1e-401], "y": 1` + digits + `}`)
	want := []Violation{{"/m", numberMessage}, {"/n", numberMessage}, {"/x/0", numberMessage}, {"/x/1", numberMessage}, {"/x/2", numberMessage}, {"/y", numberMessage}}
	var verr *ValidationError
	if err := s.Validate(traits); !errors.As(err, &verr) || !slices.Equal(verr.Violations, want) {
		t.Errorf("err = %v, want %v", err, want)
	}
}

func TestValidateRejectsHugeTraits(t *testing.T) {
	s, err := Compile(HumanID, 1, Human)
	if err != nil {
		t.Fatal(err)
	}
	huge := []byte(`{"profile": {"nick_name": "` + strings.Repeat("x", MaxTraitsSize) + `"}}`)
	var verr *ValidationError
	if err := s.Validate(huge); !errors.As(err, &verr) || !strings.Contains(verr.Violations[0].Message, "at most") {
		t.Errorf("err = %v, want a size violation", err)
	}
}
