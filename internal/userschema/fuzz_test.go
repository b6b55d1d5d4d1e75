package userschema

import (
	"bytes"
	"errors"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

// FuzzCompile feeds arbitrary schema documents to the compiler: it must never
// panic, reject only with InvalidArgument, and return schemas that work.
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
	})
}

// FuzzValidate feeds arbitrary traits to the human schema: it must never
// panic, and valid traits must filter and compare cleanly.
func FuzzValidate(f *testing.F) {
	human, err := Compile(HumanID, 1, Human)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{}`,
		`{"profile": {"given_name": "Ada", "family_name": "Lovelace", "preferred_language": "en-GB", "gender": "female", "avatar_url": "https://example.com/a.png"}}`,
		`{"profile": {"given_name": "", "gender": 1, "avatar_url": "javascript:x"}, "x": null}`,
		`{"profile": []}`, `[]`, `"x"`, `{"profile": {"nick_name": "\ud800"}}`, `{"a":1e999999}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, traits []byte) {
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
