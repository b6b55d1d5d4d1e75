package userschema

import (
	"slices"
	"testing"
)

const formSchema = `{
  "type": "object",
  "permission": {"self": "rw", "admin": "rw"},
  "$defs": {"day": {"type": "string", "format": "date", "title": "A day"}},
  "required": ["name", "address"],
  "properties": {
    "name": {"type": "string", "title": "Full name", "maxLength": 100, "oidcClaim": "name"},
    "address": {
      "type": "object", "required": ["city"],
      "properties": {
        "street": {"type": "string", "title": "Street"},
        "city": {"type": "string", "title": "City", "description": "Where you live"}
      }
    },
    "born": {"$ref": "#/$defs/day", "title": "Birthday"},
    "size": {"type": "string", "enum": ["s", "m", "l"]},
    "age": {"type": ["integer", "null"]},
    "news": {"type": "boolean"},
    "billing": {"type": "object", "properties": {"vat": {"type": "string"}, "country": {"type": "string"}}, "required": ["country"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "note": {"type": "string", "permission": {"self": "r", "admin": "rw"}}
  }
}`

func TestInputs(t *testing.T) {
	s, err := compile("form", 1, []byte(formSchema))
	if err != nil {
		t.Fatal(err)
	}
	in := s.Inputs(Self)
	var got []string
	for _, i := range in {
		got = append(got, i.Pointer)
	}
	want := []string{"/name", "/address/street", "/address/city", "/born", "/size", "/age", "/news", "/billing/vat", "/billing/country"}
	if !slices.Equal(got, want) {
		t.Fatalf("inputs in document order without arrays or read-only fields: %v, want %v", got, want)
	}
	byPointer := map[string]Input{}
	for _, i := range in {
		byPointer[i.Pointer] = i
	}
	if n := byPointer["/name"]; n.Title != "Full name" || !n.Required || n.MaxLength != 100 || n.Claim != "name" {
		t.Errorf("/name: %+v", n)
	}
	if c := byPointer["/address/city"]; !c.Required || c.Description != "Where you live" {
		t.Errorf("/address/city is required by a required object: %+v", c)
	}
	if c := byPointer["/billing/country"]; c.Required {
		t.Errorf("/billing/country is required only inside an optional object: %+v", c)
	}
	if b := byPointer["/born"]; b.Format != "date" || b.Title != "Birthday" || b.Type != "string" {
		t.Errorf("/born through $ref: %+v", b)
	}
	if e := byPointer["/size"]; !slices.Equal(e.Enum, []string{"s", "m", "l"}) {
		t.Errorf("/size: %+v", e)
	}
	if a := byPointer["/age"]; a.Type != "integer" {
		t.Errorf("/age: %+v", a)
	}
	if len(s.Inputs(Admin)) != len(want)+1 {
		t.Errorf("admin writes /note too: %d inputs", len(s.Inputs(Admin)))
	}

	traits, err := FormTraits(in, map[string]string{"/name": " Ada ", "/address/street": "Main 1", "/age": "x", "/news": "on", "/size": "m", "/unknown": "no"})
	if err != nil {
		t.Fatal(err)
	}
	if string(traits) != `{"address":{"street":"Main 1"},"age":"x","name":"Ada","news":true,"size":"m"}` {
		t.Fatalf("traits %s", traits)
	}
	var verr *ValidationError
	if err := s.Validate(traits); !asValidation(err, &verr) || !hasViolation(verr, "/address/city") || !hasViolation(verr, "/age") {
		t.Fatalf("validation names the inputs: %v", err)
	}
	traits, _ = FormTraits(in, map[string]string{"/age": "42"})
	if string(traits) != `{"age":42,"news":false}` {
		t.Fatalf("a number: %s", traits)
	}

	patch, _ := FormPatch(in, map[string]string{"/name": "Ada", "/address/city": "Bern"})
	if string(patch) != `{"address":{"city":"Bern","street":null},"age":null,"born":null,"name":"Ada","news":false,"size":null}` {
		t.Fatalf("patch %s", patch)
	}
	values := FormValues(in, []byte(`{"name":"Ada","age":7,"news":true,"address":{"city":"Bern"}}`))
	if values["/name"] != "Ada" || values["/age"] != "7" || values["/news"] != "true" || values["/address/city"] != "Bern" || len(values) != 4 {
		t.Fatalf("values %v", values)
	}
}

func asValidation(err error, target **ValidationError) bool {
	v, ok := err.(*ValidationError)
	*target = v
	return ok
}

func hasViolation(e *ValidationError, pointer string) bool {
	return slices.ContainsFunc(e.Violations, func(v Violation) bool { return v.Pointer == pointer })
}
