package userschema

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

// FuzzCompile feeds arbitrary schema documents to the compiler: it must never
// panic, reject only with InvalidArgument, and return schemas that work,
// whose cost is within MaxSchemaCost and bounds the validator's visits.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		string(Human), string(Machine), employeeSchema, contactSchema,
		`{"permission": {"admin": "r"}}`,
		`{"$ref": "#", "permission": {"admin": "rw"}}`,
		`{"$defs": {"a": {"$ref": "#/$defs/a"}}, "permission": {"self": "r"}, "properties": {"x": {"$ref": "#/$defs/a"}}}`,
		`{"$id": "https://example.com/s", "$anchor": "a", "permission": {"self": "r"}, "properties": {"x": {"$dynamicRef": "#a"}}}`,
		`{"permission": {"admin": "r"}, "properties": {"a": {"oidcClaim": "x", "unique": "org", "type": "string"}}}`,
		`{"$schema": "http://json-schema.org/draft-04/schema#"}`,
		`{"properties": {"a": {"$ref": "https://example.com"}}}`,
		`{"permission": {"admin": "r"}, "patternProperties": {"[": {}}}`,
		`[]`, `null`, `{`, ``,
		string(referenceChain(7, "anyOf")), string(referenceChain(12, "oneOf")), doubleRecursion,
		`{"permission": {"admin": "rw"}, "$dynamicAnchor": "n", "properties": {"c": {"items": {"$dynamicRef": "#n"}}}}`,
		`{"permission": {"admin": "rw"}, "patternProperties": {"^a": {"allOf": [{"$ref": "#/$defs/s"}, {"$ref": "#/$defs/s"}]}}, "propertyNames": {"$ref": "#/$defs/s"}, "$defs": {"s": {"anyOf": [{"type": "string"}, {}]}}}`,
		`{"permission": {"admin": "rw"}, "properties": {"l": {"prefixItems": [{"$ref": "#/$defs/s"}], "items": {"$ref": "#/$defs/s"}, "contains": {"$ref": "#/$defs/s"}}}, "$defs": {"s": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}`,
		`{"permission": {"admin": "rw"}, "enum": [` + strings.Repeat(`{"a": 1},`, 100) + `1]}`,
		`{"permission": {"admin": "rw"}, "default": ` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, document []byte) {
		s, err := compile("fuzz", 1, document)
		if err != nil {
			if k := failure.KindOf(err); k != failure.KindInvalidArgument {
				t.Fatalf("kind = %v, want invalid_argument: %v", k, err)
			}
			return
		}
		if err := s.Validate([]byte(`{}`)); err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Violations) == 0 {
				t.Fatalf("Validate({}) = %v, want nil or violations", err)
			}
		}
		for _, role := range []Role{Self, Admin} {
			if _, err := s.FilterReadable([]byte(`{"a": {"b": 1}}`), role); err != nil {
				t.Fatalf("FilterReadable: %v", err)
			}
			if err := s.CheckWritable([]byte(`{"a": 1}`), []byte(`{"a": 1}`), role); err != nil {
				t.Fatalf("CheckWritable of an unchanged document: %v", err)
			}
		}
		_, _, _, _ = s.Claims(), s.SAMLAttributes(), s.UniqueFields(), s.Authenticators()
		if s.cost == 0 || s.cost > MaxSchemaCost {
			t.Fatalf("accepted with cost %d, outside 1 to %d", s.cost, MaxSchemaCost)
		}
		for _, traits := range []string{
			`{}`, `{"a": {"b": 1}}`, `{"x": "s", "l": [1, "x", {"b": null}], "ab": true}`,
			`{"c": [{"c": [{"c": []}]}], "a": {"a": {"a": {"a": "s"}}}}`,
		} {
			checkCostBound(t, s, []byte(traits))
		}
	})
}

// FuzzValidate feeds arbitrary traits to the human schema and to a schema
// that takes any object: they must never panic, must refuse exactly the
// traits deeper than MaxTraitsDepth or with a number out of bounds, and
// valid traits must filter and compare cleanly.
func FuzzValidate(f *testing.F) {
	human, err := Compile(HumanID, 1, Human)
	if err != nil {
		f.Fatal(err)
	}
	open, err := Compile("open", 1, []byte(`{"permission": {"admin": "rw"}}`))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{}`,
		`{"profile": {"given_name": "Ada", "family_name": "Lovelace", "preferred_language": "en-GB", "gender": "female", "avatar_url": "https://example.com/a.png"}}`,
		`{"profile": {"given_name": "", "gender": 1, "avatar_url": "javascript:x"}, "x": null}`,
		`{"profile": []}`, `[]`, `"x"`, `{"profile": {"nick_name": "\ud800"}}`, `{"a":1e999999}`,
		string(nested(MaxTraitsDepth, false)), string(nested(MaxTraitsDepth+1, true)), string(nested(200, false)),
		`{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"]]"}`,
		`{"a": 1e307, "b": -1e-399, "c": 0e99999999, "d": 1e308, "e": 1e9999999}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, traits []byte) {
		if v, err := decodeJSON(traits); err == nil && len(traits) <= MaxTraitsSize {
			_, isObject := v.(map[string]any)
			badNumbers := numbersOutOfBounds(v, "", nil)
			err := open.Validate(traits)
			switch depth := depthOf(v); {
			case depth > MaxTraitsDepth && err == nil:
				t.Fatalf("traits %d levels deep were accepted", depth)
			case len(badNumbers) > 0 && err == nil:
				t.Fatalf("traits with the number at %s were accepted", badNumbers[0])
			case depth <= MaxTraitsDepth && isObject && len(badNumbers) == 0 && err != nil:
				t.Fatalf("traits %d levels deep were refused: %v", depth, err)
			}
		}
		err := human.Validate(traits)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Violations) == 0 {
				t.Fatalf("err = %v, want a *ValidationError with violations", err)
			}
			if failure.KindOf(err) != failure.KindInvalidArgument {
				t.Fatalf("kind = %v", failure.KindOf(err))
			}
			return
		}
		admin, err := human.FilterReadable(traits, Admin)
		if err != nil {
			t.Fatal(err)
		}
		// Admins may read every human field, so filtering only re-encodes.
		decoded, err := decodeJSON(traits)
		if err != nil {
			t.Fatal(err)
		}
		canonical, err := encodeJSON(decoded)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(admin, canonical) {
			t.Fatalf("admin view %s differs from %s", admin, canonical)
		}
		self, err := human.FilterReadable(traits, Self)
		if err != nil {
			t.Fatal(err)
		}
		if err := human.Validate(self); err != nil {
			t.Fatalf("the self view %s is invalid: %v", self, err)
		}
		if err := human.CheckWritable(traits, traits, Self); err != nil {
			t.Fatalf("unchanged traits: %v", err)
		}
	})
}

// FuzzMergePatch checks that merge patches never panic, produce JSON, and are
// idempotent: applying a patch twice equals applying it once.
func FuzzMergePatch(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a":"b"}`, `{"a":"c"}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`[1,2]`, `{"a":"b","c":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{`{"a":"foo"}`, `null`},
		{``, `{"n":1.50}`},
		{`{"a":`, `{}`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, traits, patch []byte) {
		once, err := MergePatch(traits, patch)
		if err != nil {
			if failure.KindOf(err) != failure.KindInvalidArgument {
				t.Fatalf("kind = %v: %v", failure.KindOf(err), err)
			}
			return
		}
		if _, err := decodeJSON(once); err != nil {
			t.Fatalf("result %q is not JSON: %v", once, err)
		}
		twice, err := MergePatch(once, patch)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("not idempotent: %s then %s", once, twice)
		}
	})
}

// depthOf is how deeply v nests objects and arrays.
func depthOf(v any) int {
	deepest := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			deepest = max(deepest, depthOf(e))
		}
	case []any:
		for _, e := range v {
			deepest = max(deepest, depthOf(e))
		}
	default:
		return 0
	}
	return deepest + 1
}
