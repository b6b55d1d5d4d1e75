package userschema

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/castellan-iam/castellan/internal/failure"
)

// referenceChain is a schema whose $defs form a chain of n links, each an
// applicator (anyOf, oneOf or allOf) of two references to the next: the
// validator visits the last link 2^n times for the value of /x.
func referenceChain(n int, applicator string) []byte {
	defs := make([]string, 0, n+1)
	for i := range n {
		defs = append(defs, fmt.Sprintf(`"d%d": {%q: [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}`, i, applicator, i+1, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"d%d": {"type": "string"}`, n))
	return []byte(`{"permission": {"admin": "rw"}, "$defs": {` + strings.Join(defs, ", ") + `}, "properties": {"x": {"$ref": "#/$defs/d0"}}}`)
}

// doubleRecursion applies the same recursive definition twice per level,
// so the value at depth d is visited 2^d times.
const doubleRecursion = `{"permission": {"admin": "rw"}, "$ref": "#/$defs/n", "$defs": {"n": {"allOf": [
	{"properties": {"a": {"$ref": "#/$defs/n"}}},
	{"properties": {"a": {"$ref": "#/$defs/n"}}}]}}}`

func TestCompileRefusesExplosiveSchemas(t *testing.T) {
	tests := []struct {
		name     string
		document []byte
		field    string
		message  string
	}{
		{"fail/anyOf chain of 20 links", referenceChain(20, "anyOf"), "/properties/x", "more than 131072 schema checks"},
		{"fail/anyOf chain of 22 links", referenceChain(22, "anyOf"), "/properties/x", "schema checks"},
		{"fail/oneOf chain of 22 links", referenceChain(22, "oneOf"), "/properties/x", "schema checks"},
		{"fail/allOf chain of 22 links", referenceChain(22, "allOf"), "/properties/x", "schema checks"},
		{"fail/allOf chain of 1000 links", referenceChain(1000, "allOf"), "/properties/x", "schema checks"},
		{"fail/anyOf chain of 8 links is just above the limit", referenceChain(8, "anyOf"), "/properties/x", "more than 1000 schema checks"},
		{"fail/recursion that doubles at every level", []byte(doubleRecursion), "", "(/a/a/a/a/a/a/a/a/a"},
		{"fail/reference loop on the same value", []byte(`{"permission": {"admin": "r"}, "properties": {"a": {"$ref": "#/properties/a"}}}`), "/properties/a", "in a loop"},
		{"fail/loop through anyOf and the root", []byte(`{"permission": {"admin": "r"}, "anyOf": [{"type": "string"}, {"$ref": "#"}]}`), "", "in a loop"},
		{"fail/dynamic reference loop", []byte(`{"permission": {"admin": "r"}, "$dynamicAnchor": "m", "allOf": [{"$dynamicRef": "#m"}]}`), "", "in a loop"},
		{"fail/a chain behind a dynamic anchor that only $dynamicRef may reach", []byte(`{"permission": {"admin": "rw"},
			"$dynamicAnchor": "m", "properties": {"x": {"$dynamicRef": "#m"}},
			"$defs": {"other": {"$id": "https://example.com/other", "$dynamicAnchor": "m", "anyOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/a"}],
				"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/b"}, {"$ref": "#/$defs/b"}]}, "b": {"anyOf": [{"$ref": "#/$defs/c"}, {"$ref": "#/$defs/c"}]},
					"c": {"anyOf": [{"$ref": "#/$defs/d"}, {"$ref": "#/$defs/d"}]}, "d": {"anyOf": [{"$ref": "#/$defs/e"}, {"$ref": "#/$defs/e"}]},
					"e": {"anyOf": [{"$ref": "#/$defs/f"}, {"$ref": "#/$defs/f"}]}, "f": {"anyOf": [{"$ref": "#/$defs/g"}, {"$ref": "#/$defs/g"}]},
					"g": {"anyOf": [{"$ref": "#/$defs/h"}, {"$ref": "#/$defs/h"}]}, "h": {"anyOf": [{"$ref": "#/$defs/i"}, {"$ref": "#/$defs/i"}]},
					"i": {"anyOf": [{"$ref": "#/$defs/j"}, {"$ref": "#/$defs/j"}]}, "j": {"type": "string"}}}}}`), "", "schema checks"},
		{"fail/an enum of 20,000 values", []byte(`{"permission": {"admin": "rw"}, "properties": {"x": {"enum": [` + strings.TrimSuffix(strings.Repeat(`1,`, 20000), ",") + `]}}}`), "/properties/x", "more than 1000 schema checks"},
		{"fail/an enum of 200 objects of 100 values each", []byte(`{"permission": {"admin": "rw"}, "properties": {"x": {"enum": [` + strings.TrimSuffix(strings.Repeat(`{"a": [`+strings.TrimSuffix(strings.Repeat(`1,`, 99), ",")+`]},`, 200), ",") + `]}}}`), "/properties/x", "more than 1000 schema checks"},
		{"fail/a minimum the validator cannot represent", []byte(`{"permission": {"admin": "rw"}, "properties": {"n": {"minimum": 1e9999999}}}`), "/properties/n/minimum", "significant digits"},
		{"fail/a multipleOf of 200 digits", []byte(`{"permission": {"admin": "rw"}, "properties": {"n": {"multipleOf": 0.` + strings.Repeat("1", 200) + `}}}`), "/properties/n/multipleOf", "significant digits"},
		{"fail/JSON nested deeper than the limit in a default value", []byte(`{"permission": {"admin": "rw"}, "default": ` + strings.Repeat("[", maxDocumentNesting) + strings.Repeat("]", maxDocumentNesting) + `}`), "", "levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile("explosive-"+tt.name, 1, tt.document)
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument {
				t.Fatalf("err = %v, want invalid_argument", err)
			}
			if tt.field != "" && fe.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(fe.Error(), tt.message) {
				t.Errorf("err = %v, want it to contain %q", err, tt.message)
			}
		})
	}
}

func TestCompileAcceptsOrdinarySchemas(t *testing.T) {
	fifty, _ := fiftyFields()
	tests := []struct {
		name     string
		document []byte
		maxCost  uint64
	}{
		{"ok/human", Human, 10},
		{"ok/machine", Machine, 10},
		{"ok/50 fields", fifty, 10},
		{"ok/employee", []byte(employeeSchema), 10},
		{"ok/contact", []byte(contactSchema), 10},
		{"ok/anyOf chain of 7 links is below the limit", referenceChain(7, "anyOf"), MaxSchemaCost},
		{"ok/recursive tree", []byte(`{"permission": {"admin": "rw"}, "$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
			"properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}}`), 10},
		{"ok/dynamic reference tree", []byte(`{"permission": {"admin": "rw"}, "$dynamicAnchor": "node", "type": "object",
			"properties": {"children": {"type": "array", "items": {"$dynamicRef": "#node"}}}}`), 10},
		{"ok/a oneOf of 30 address kinds", []byte(`{"permission": {"admin": "rw"}, "properties": {"address": {"oneOf": [` +
			strings.TrimSuffix(strings.Repeat(`{"$ref": "#/$defs/address"},`, 30), ",") + `]}},
			"$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}, "required": ["city"]}}}`), 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile("ordinary-"+tt.name, 1, tt.document)
			if err != nil {
				t.Fatal(err)
			}
			if s.cost == 0 || s.cost > tt.maxCost {
				t.Errorf("cost = %d, want 1 to %d", s.cost, tt.maxCost)
			}
		})
	}
}

func TestCompileStoredKeepsDocumentsAboveNewLimits(t *testing.T) {
	chain := referenceChain(22, "anyOf")
	s, err := CompileStored("stored-chain", 1, chain)
	if err != nil {
		t.Fatalf("CompileStored: %v", err)
	}
	if _, err := Compile("stored-chain", 1, chain); !failure.Is(err, failure.KindInvalidArgument) {
		t.Errorf("Compile of a cached document above the limit = %v, want invalid_argument", err)
	}
	var verr *ValidationError
	if err := s.Validate([]byte(`{"x": "s"}`)); !errors.As(err, &verr) || !strings.Contains(err.Error(), "needs a simpler revision") {
		t.Errorf("Validate = %v, want a refusal within the budget", err)
	}
	if got, err := s.FilterReadable([]byte(`{"x": "s"}`), Admin); err != nil || string(got) != `{"x":"s"}` {
		t.Errorf("FilterReadable = %s, %v", got, err)
	}

	loop, err := CompileStored("stored-loop", 1, []byte(`{"permission": {"admin": "r"}, "properties": {"a": {"$ref": "#/properties/a"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.Validate([]byte(`{"a": 1}`)); !errors.As(err, &verr) {
		t.Errorf("Validate = %v, want a *ValidationError", err)
	}
}

func TestValidateKeepsToTheBudget(t *testing.T) {
	s, err := Compile("budget", 1, referenceChain(7, "anyOf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{"x": "s", "list": [1, 2, 3]}`)); err != nil {
		t.Fatalf("few values: %v", err)
	}
	many := []byte(`{"x": "s", "list": [` + strings.TrimSuffix(strings.Repeat("1,", 2000), ",") + `]}`)
	var verr *ValidationError
	err = s.Validate(many)
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), "send fewer values") {
		t.Fatalf("err = %v, want the budget refusal", err)
	}
	if failure.KindOf(err) != failure.KindInvalidArgument {
		t.Errorf("kind = %v", failure.KindOf(err))
	}

	// A schema of cost 2 validates traits of 65,536 values, not one more.
	cheap, err := Compile("cheap", 1, []byte(`{"permission": {"admin": "rw"}, "properties": {"l": {"items": {"type": "integer"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cheap.cost != 2 {
		t.Fatalf("cost = %d, want 2", cheap.cost)
	}
	items := MaxValidationCost/2 - 2 // the traits object and the array are values too
	largest := []byte(`{"l": [` + strings.Repeat("1,", items-1) + `1]}`)
	if err := cheap.Validate(largest); err != nil {
		t.Errorf("Validate of %d values: %v", MaxValidationCost/2, err)
	}
	tooMany := []byte(`{"l": [` + strings.Repeat("1,", items) + `1]}`)
	if err := cheap.Validate(tooMany); !errors.As(err, &verr) || !strings.Contains(err.Error(), "send fewer values") {
		t.Errorf("Validate of %d values = %v, want the budget refusal", MaxValidationCost/2+1, err)
	}
}

// visitCounter is a schema extension that counts the validator's visits to
// the subschemas it is compiled into.
type visitCounter struct{ visits *int }

func (c visitCounter) Validate(*jsonschema.ValidatorContext, any) { *c.visits++ }

// countVisits validates traits against document with a validator compiled
// like Compile's, plus an extension on every subschema that counts visits.
// A visit that fails before the extension runs is not counted, so the count
// is a lower bound of the validator's work. ok is false when the document
// does not compile this way.
func countVisits(document, traits []byte) (visits int, ok bool) {
	doc, err := decodeJSON(document)
	if err != nil {
		return 0, false
	}
	instance, err := decodeJSON(traits)
	if err != nil {
		return 0, false
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	c.RegisterVocabulary(&jsonschema.Vocabulary{
		URL: "urn:castellan:test:visits",
		Compile: func(*jsonschema.CompilerContext, map[string]any) (jsonschema.SchemaExt, error) {
			return visitCounter{&visits}, nil
		},
	})
	c.AssertVocabs()
	if err := c.AddResource(baseURL, doc); err != nil {
		return 0, false
	}
	s, err := c.Compile(baseURL)
	if err != nil {
		return 0, false
	}
	_ = s.Validate(instance)
	return visits, true
}

// checkCostBound fails when validating traits against s visits more
// subschemas than the bound Validate relies on: values × cost.
func checkCostBound(t *testing.T, s *Schema, traits []byte) {
	t.Helper()
	visits, ok := countVisits(s.document, traits)
	if !ok {
		return
	}
	v, err := decodeJSON(traits)
	if err != nil {
		t.Fatal(err)
	}
	if bound := satMul(scanValues(v).values, s.cost); uint64(visits) > bound {
		t.Fatalf("validating %s visited %d subschemas, above the bound %d (cost %d)", traits, visits, bound, s.cost)
	}
}

func TestCostBoundsTheValidatorsVisits(t *testing.T) {
	tests := []struct {
		name     string
		document string
		traits   []string
	}{
		{"anyOf chain", string(referenceChain(7, "anyOf")), []string{`{"x": "s"}`}},
		{"allOf chain", string(referenceChain(7, "allOf")), []string{`{"x": "s"}`}},
		{"oneOf chain", string(referenceChain(7, "oneOf")), []string{`{"x": "s"}`, `{"x": 1}`}},
		{"recursive tree", `{"permission": {"admin": "rw"}, "$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "allOf": [{"$ref": "#/$defs/named"}],
			"properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}, "named": {"properties": {"name": {"type": "string"}}}}}`,
			[]string{`{"name": "a", "children": [{"name": "b", "children": [{"children": [{"children": [{"name": "e"}]}]}]}, {}]}`}},
		{"dynamic reference tree", `{"permission": {"admin": "rw"}, "$dynamicAnchor": "node", "type": "object",
			"properties": {"children": {"type": "array", "items": {"$dynamicRef": "#node"}}}}`,
			[]string{`{"children": [{"children": [{"children": [{}]}]}, {}]}`}},
		{"members by name, pattern and the rest", `{"permission": {"admin": "rw"},
			"properties": {"ab": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/s"}]}},
			"patternProperties": {"^a": {"allOf": [{"$ref": "#/$defs/s"}, {"$ref": "#/$defs/s"}]}, "b$": {"$ref": "#/$defs/s"}},
			"additionalProperties": {"oneOf": [{"$ref": "#/$defs/s"}, {"type": "integer"}]},
			"propertyNames": {"anyOf": [{"maxLength": 10}, {"$ref": "#/$defs/s"}]},
			"unevaluatedProperties": {"$ref": "#/$defs/s"},
			"dependentSchemas": {"ab": {"allOf": [{"required": ["ab"]}, {"$ref": "#/$defs/o"}]}},
			"$defs": {"s": {"type": "string", "allOf": [{"minLength": 1}]}, "o": {"type": "object", "not": {"required": ["zz"]}}}}`,
			[]string{`{"ab": "x", "abb": "y", "ccb": "z", "q": "r"}`, `{"ab": "x"}`}},
		{"items by position and the rest", `{"permission": {"admin": "rw"}, "properties": {"l": {"type": "array",
			"prefixItems": [{"type": "string"}, {"allOf": [{"$ref": "#/$defs/s"}, {"$ref": "#/$defs/s"}]}],
			"items": {"anyOf": [{"$ref": "#/$defs/s"}, {"$ref": "#/$defs/s"}]},
			"contains": {"if": {"$ref": "#/$defs/s"}, "then": {"$ref": "#/$defs/s"}, "else": {"type": "integer"}},
			"unevaluatedItems": {"$ref": "#/$defs/s"}}},
			"$defs": {"s": {"type": "string", "allOf": [{"minLength": 1}]}}}`,
			[]string{`{"l": ["a", "b", "c", "d", "e"]}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile("bound-"+tt.name, 1, []byte(tt.document))
			if err != nil {
				t.Fatal(err)
			}
			for _, traits := range tt.traits {
				visits, ok := countVisits(s.document, []byte(traits))
				if !ok || visits == 0 {
					t.Fatalf("counted %d visits (compiled: %v)", visits, ok)
				}
				checkCostBound(t, s, []byte(traits))
			}
		})
	}
}

func TestCostCountsTheChainExactly(t *testing.T) {
	// With valid traits, allOf takes every branch: the validator visits the
	// root once and /x as often as the cost says, less the one check of the
	// member by its object, which the extension cannot count, plus the
	// root's visit, which the cost does not count for /x.
	for n := range 9 {
		s, err := build("exact", 1, referenceChain(n, "allOf"))
		if err != nil {
			t.Fatal(err)
		}
		visits, ok := countVisits(s.document, []byte(`{"x": "s"}`))
		if !ok || uint64(visits) != s.cost {
			t.Errorf("n = %d: cost = %d, %d visits counted", n, s.cost, visits)
		}
	}
}
