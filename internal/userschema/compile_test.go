package userschema

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

// adminRoot starts a schema readable and writable by admins, closed to
// undeclared properties; append the "properties" member.
const adminRoot = `"permission": {"admin": "rw"}, "additionalProperties": false`

func TestCompile(t *testing.T) {
	tests := []struct {
		name     string
		document string
		field    string // the JSON pointer the error must name
		message  string // a part of the error message; "" means success
	}{
		{name: "ok/no $schema means draft 2020-12", document: `{` + adminRoot + `, "properties": {"a": {"type": "string"}}}`},
		{name: "ok/explicit draft 2020-12", document: `{"$schema": "https://json-schema.org/draft/2020-12/schema", ` + adminRoot + `, "properties": {"a": {}}}`},
		{name: "ok/reference into $defs", document: `{` + adminRoot + `, "$defs": {"name": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/name"}}}`},
		{name: "ok/reference to an anchor", document: `{` + adminRoot + `, "$defs": {"name": {"$anchor": "name", "type": "string"}}, "properties": {"a": {"$ref": "#name"}}}`},
		{name: "ok/write-only for self and readable by admin", document: `{"additionalProperties": false, "properties": {"answer": {"type": "string", "permission": {"self": "w", "admin": "r"}}}}`},
		{name: "ok/open root readable by admin", document: `{"permission": {"admin": "r"}}`},
		{name: "ok/root without permission when every field has one", document: `{"additionalProperties": false, "properties": {"a": {"permission": {"self": "r"}}}}`},
		{name: "ok/unevaluatedProperties false closes the root", document: `{"unevaluatedProperties": false, "properties": {"a": {"permission": {"self": "r"}}}}`},

		{name: "fail/bad JSON", document: `{"type": "object"`, field: "", message: "not valid JSON"},
		{name: "fail/data after the document", document: `{"permission": {"admin": "r"}} {}`, field: "", message: "not valid JSON"},
		{name: "fail/empty document", document: ``, field: "", message: "not valid JSON"},
		{name: "fail/boolean schema", document: `true`, field: "", message: "a JSON object"},
		{name: "fail/draft 7", document: `{"$schema": "http://json-schema.org/draft-07/schema#", "permission": {"admin": "r"}}`, field: "/$schema", message: "draft 2020-12"},
		{name: "fail/draft 2019-09 inside $defs", document: `{"permission": {"admin": "r"}, "$defs": {"a": {"$id": "a", "$schema": "https://json-schema.org/draft/2019-09/schema"}}}`, field: "/$defs/a/$schema", message: "draft 2020-12"},
		{name: "fail/custom meta-schema", document: `{"$schema": "https://example.com/meta", "permission": {"admin": "r"}}`, field: "/$schema", message: "draft 2020-12"},
		{name: "fail/remote $ref", document: `{` + adminRoot + `, "properties": {"a": {"$ref": "https://example.com/schema.json"}}}`, field: "/properties/a/$ref", message: "same document"},
		{name: "fail/file $ref", document: `{` + adminRoot + `, "properties": {"a": {"$ref": "other.json#/$defs/x"}}}`, field: "/properties/a/$ref", message: "same document"},
		{name: "fail/$ref to the meta-schema", document: `{` + adminRoot + `, "properties": {"a": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}}`, field: "/properties/a/$ref", message: "same document"},
		{name: "fail/remote $dynamicRef in $defs", document: `{` + adminRoot + `, "$defs": {"x": {"$dynamicRef": "https://example.com/s#meta"}}}`, field: "/$defs/x/$dynamicRef", message: "same document"},
		{name: "fail/dangling $ref", document: `{` + adminRoot + `, "properties": {"a": {"$ref": "#/$defs/missing"}}}`, field: "/properties/a/$ref", message: `"#/$defs/missing" points to nothing`},
		{name: "fail/dangling anchor", document: `{` + adminRoot + `, "properties": {"a": {"$ref": "#missing"}}}`, field: "/properties/a/$ref", message: `"#missing" points to nothing`},
		{name: "fail/invalid type keyword", document: `{` + adminRoot + `, "properties": {"a": {"type": "strin"}}}`, field: "/properties/a/type", message: "not a valid draft 2020-12 schema"},
		{name: "fail/regular expression with look-ahead", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "pattern": "^(?=a)"}}}`, field: "/properties/a/pattern", message: "regex"},
		{name: "fail/unknown format", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "format": "emial"}}}`, field: "/properties/a/format", message: `unknown format "emial"`},
		{name: "fail/too deep", document: strings.Repeat(`{"not": `, 70) + `{}` + strings.Repeat(`}`, 70), field: strings.Repeat("/not", 65), message: "deeper than 64"},

		{name: "fail/field without permission", document: `{"additionalProperties": false, "properties": {"a": {"type": "string", "permission": {"self": "r"}}, "b": {"type": "string"}}}`, field: "/properties/b", message: `field "/b" can be read by neither self nor admin`},
		{name: "fail/nested field without permission", document: `{"additionalProperties": false, "properties": {"p": {"additionalProperties": false, "properties": {"x~y/z": {"type": "string"}}}}}`, field: "/properties/p/properties/x~0y~1z", message: `field "/p/x~0y~1z"`},
		{name: "fail/write-only for everyone", document: `{"additionalProperties": false, "properties": {"a": {"permission": {"self": "w", "admin": "w"}}}}`, field: "/properties/a", message: "neither self nor admin"},
		{name: "fail/explicit empty permission hides an inherited one", document: `{` + adminRoot + `, "properties": {"a": {"permission": {}}}}`, field: "/properties/a", message: "neither self nor admin"},
		{name: "fail/root with nothing readable", document: `{"type": "object"}`, field: "", message: "the root object can be read by neither"},
		{name: "fail/open root without permission", document: `{"properties": {"a": {"permission": {"self": "r"}}}}`, field: "", message: "undeclared properties of the root object"},
		{name: "fail/pattern properties keep an object open", document: `{"additionalProperties": false, "patternProperties": {"^x": {}}, "properties": {"a": {"permission": {"self": "r"}}}}`, field: "", message: "undeclared properties"},
		{name: "fail/permission is not an object", document: `{"permission": "rw"}`, field: "/permission", message: "is an object"},
		{name: "fail/unknown permission mode", document: `{"permission": {"self": "rx"}}`, field: "/permission/self", message: `"r", "w" or "rw"`},
		{name: "fail/unknown role", document: `{"permission": {"owner": "rw"}}`, field: "/permission/owner", message: `unknown role "owner"`},
		{name: "fail/permission inside $defs", document: `{` + adminRoot + `, "$defs": {"a": {"permission": {"self": "r"}}}}`, field: "/$defs/a/permission", message: "only allowed on the schema root and on schemas reached"},
		{name: "fail/claim inside items", document: `{` + adminRoot + `, "properties": {"a": {"type": "array", "items": {"oidcClaim": "x"}}}}`, field: "/properties/a/items/oidcClaim", message: "only allowed"},
		{name: "fail/unique inside allOf", document: `{` + adminRoot + `, "properties": {"a": {"allOf": [{"unique": "org"}]}}}`, field: "/properties/a/allOf/0/unique", message: "only allowed"},

		{name: "fail/duplicate claim", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "oidcClaim": "nickname"}, "b": {"type": "string", "oidcClaim": "nickname"}}}`, field: "/properties/b/oidcClaim", message: `"nickname" is already fed by "/a"`},
		{name: "fail/duplicate claim across levels", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "oidcClaim": "c"}, "p": {"properties": {"b": {"type": "string", "oidcClaim": "c"}}}}}`, field: "/properties/p/properties/b/oidcClaim", message: "already fed"},
		{name: "fail/reserved claim sub", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "oidcClaim": "sub"}}}`, field: "/properties/a/oidcClaim", message: "issued by Castellan"},
		{name: "fail/reserved claim roles", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "oidcClaim": "roles"}}}`, field: "/properties/a/oidcClaim", message: "issued by Castellan"},
		{name: "fail/reserved project roles claim", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "oidcClaim": "urn:castellan:project:roles"}}}`, field: "/properties/a/oidcClaim", message: "issued by Castellan"},
		{name: "fail/reserved claim email_verified", document: `{` + adminRoot + `, "properties": {"a": {"type": "boolean", "oidcClaim": "email_verified"}}}`, field: "/properties/a/oidcClaim", message: "issued by Castellan"},
		{name: "fail/empty claim", document: `{` + adminRoot + `, "properties": {"a": {"oidcClaim": ""}}}`, field: "/properties/a/oidcClaim", message: "non-empty"},
		{name: "fail/claim is not a string", document: `{` + adminRoot + `, "properties": {"a": {"oidcClaim": 1}}}`, field: "/properties/a/oidcClaim", message: "non-empty"},
		{name: "fail/duplicate SAML attribute", document: `{` + adminRoot + `, "properties": {"a": {"samlAttribute": "urn:oid:2.5.4.42"}, "b": {"samlAttribute": "urn:oid:2.5.4.42"}}}`, field: "/properties/b/samlAttribute", message: "already fed"},
		{name: "fail/claim on the root", document: `{"permission": {"admin": "r"}, "oidcClaim": "profile"}`, field: "/oidcClaim", message: "not on the schema root"},

		{name: "fail/unique with an unknown scope", document: `{` + adminRoot + `, "properties": {"a": {"type": "string", "unique": "global"}}}`, field: "/properties/a/unique", message: `"org" or "instance"`},
		{name: "fail/unique on an object", document: `{` + adminRoot + `, "properties": {"a": {"type": "object", "unique": "org"}}}`, field: "/properties/a/unique", message: "can be unique"},
		{name: "fail/unique on an array", document: `{` + adminRoot + `, "properties": {"a": {"type": "array", "unique": "org"}}}`, field: "/properties/a/unique", message: "can be unique"},
		{name: "fail/unique without a type", document: `{` + adminRoot + `, "properties": {"a": {"unique": "instance"}}}`, field: "/properties/a/unique", message: "can be unique"},
		{name: "fail/unique on a nullable string", document: `{` + adminRoot + `, "properties": {"a": {"type": ["string", "null"], "unique": "instance"}}}`, field: "/properties/a/unique", message: "can be unique"},
		{name: "fail/unique on the root", document: `{"permission": {"admin": "r"}, "type": "string", "unique": "org"}`, field: "/unique", message: "not on the schema root"},

		{name: "fail/unknown authenticator", document: `{"permission": {"admin": "r"}, "authenticators": ["password", "magic_link"]}`, field: "/authenticators/1", message: `unknown authenticator "magic_link"`},
		{name: "fail/duplicate authenticator", document: `{"permission": {"admin": "r"}, "authenticators": ["pat", "pat"]}`, field: "/authenticators/1", message: "listed twice"},
		{name: "fail/authenticators is not an array", document: `{"permission": {"admin": "r"}, "authenticators": "password"}`, field: "/authenticators", message: "array"},
		{name: "fail/authenticators below the root", document: `{` + adminRoot + `, "properties": {"a": {"authenticators": ["password"]}}}`, field: "/properties/a/authenticators", message: "only allowed on the schema root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := compile("test", 1, []byte(tt.document))
			if tt.message == "" {
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				if s == nil {
					t.Fatal("compile returned no schema and no error")
				}
				return
			}
			var fe *failure.Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want a *failure.Error", err, err)
			}
			if fe.Kind != failure.KindInvalidArgument {
				t.Errorf("kind = %v, want invalid_argument", fe.Kind)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(fe.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", fe.Message, tt.message)
			}
		})
	}
}

func TestCompileRejectsEmptyIDAndHugeDocuments(t *testing.T) {
	if _, err := Compile("", 1, Human); !failure.Is(err, failure.KindInvalidArgument) {
		t.Errorf("empty id: err = %v, want invalid argument", err)
	}
	huge := []byte(`{"permission": {"admin": "r"}, "description": "` + strings.Repeat("x", MaxDocumentSize) + `"}`)
	if _, err := Compile("huge", 1, huge); !failure.Is(err, failure.KindInvalidArgument) {
		t.Errorf("huge document: err = %v, want invalid argument", err)
	}
}

func TestAnnotations(t *testing.T) {
	s, err := compile("employee", 3, []byte(`{
		"permission": {"self": "r", "admin": "rw"},
		"additionalProperties": false,
		"authenticators": ["passkey", "idp"],
		"properties": {
			"employee_id": {"type": "string", "unique": "org", "oidcClaim": "employee_id", "samlAttribute": "urn:oid:2.16.840.1.113730.3.1.3"},
			"badge": {"type": "integer", "unique": "instance"},
			"team": {"type": "object", "properties": {
				"name": {"type": "string", "oidcClaim": "team", "samlAttribute": "team"},
				"cost/center": {"type": "number", "unique": "org"}
			}}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() != "employee" || s.Revision() != 3 {
		t.Errorf("id, revision = %q, %d", s.ID(), s.Revision())
	}
	wantClaims := map[string]string{"/employee_id": "employee_id", "/team/name": "team"}
	if got := s.Claims(); !maps.Equal(got, wantClaims) {
		t.Errorf("claims = %v, want %v", got, wantClaims)
	}
	wantSAML := map[string]string{"/employee_id": "urn:oid:2.16.840.1.113730.3.1.3", "/team/name": "team"}
	if got := s.SAMLAttributes(); !maps.Equal(got, wantSAML) {
		t.Errorf("SAML attributes = %v, want %v", got, wantSAML)
	}
	wantUnique := []UniqueField{
		{Pointer: "/badge", Scope: UniqueInstance},
		{Pointer: "/employee_id", Scope: UniqueOrg},
		{Pointer: "/team/cost~1center", Scope: UniqueOrg},
	}
	if got := s.UniqueFields(); !slices.Equal(got, wantUnique) {
		t.Errorf("unique fields = %v, want %v", got, wantUnique)
	}
	if got, want := s.Authenticators(), []string{"passkey", "idp"}; !slices.Equal(got, want) {
		t.Errorf("authenticators = %v, want %v", got, want)
	}

	// The accessors return copies: changing them does not change the schema.
	s.Claims()["/badge"] = "badge"
	s.UniqueFields()[0].Scope = UniqueOrg
	s.Authenticators()[0] = "password"
	if _, ok := s.Claims()["/badge"]; ok || s.UniqueFields()[0].Scope != UniqueInstance || s.Authenticators()[0] != "passkey" {
		t.Error("an accessor exposed the schema's own state")
	}
}

func TestPermissionInheritance(t *testing.T) {
	s, err := compile("inherit", 1, []byte(`{
		"permission": {"admin": "rw"},
		"additionalProperties": false,
		"properties": {
			"a": {"type": "string"},
			"b": {
				"permission": {"self": "r", "admin": "r"},
				"properties": {
					"c": {"type": "string"},
					"d": {
						"permission": {"self": "rw"},
						"additionalProperties": false,
						"properties": {"e": {"type": "string"}}
					}
				}
			},
			"f": {"permission": {"self": "w", "admin": "rw"}, "type": "string"}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pointer string
		want    access
	}{
		{name: "ok/the root has its own permission", pointer: "", want: access{admin: modeRead | modeWrite}},
		{name: "ok/a child without permission takes its parent's", pointer: "/a", want: access{admin: modeRead | modeWrite}},
		{name: "ok/an explicit permission replaces the inherited one", pointer: "/b", want: access{self: modeRead, admin: modeRead}},
		{name: "ok/inheritance follows the nearest ancestor", pointer: "/b/c", want: access{self: modeRead, admin: modeRead}},
		{name: "ok/a missing role in an explicit permission means none", pointer: "/b/d", want: access{self: modeRead | modeWrite}},
		{name: "ok/grandchildren inherit through two levels", pointer: "/b/d/e", want: access{self: modeRead | modeWrite}},
		{name: "ok/write-only for self", pointer: "/f", want: access{self: modeWrite, admin: modeRead | modeWrite}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fieldAt(t, s.root, tt.pointer)
			if f.access != tt.want {
				t.Errorf("access of %q = %+v, want %+v", tt.pointer, f.access, tt.want)
			}
		})
	}
}

// fieldAt finds a field by pointer; tokens in the tests need no unescaping.
func fieldAt(t *testing.T, root *field, pointer string) *field {
	t.Helper()
	f := root
	if pointer == "" {
		return f
	}
	for _, tok := range strings.Split(pointer[1:], "/") {
		next, ok := f.children[tok]
		if !ok {
			t.Fatalf("no field %q", pointer)
		}
		f = next
	}
	return f
}

func TestCache(t *testing.T) {
	doc := []byte(`{"permission": {"admin": "rw"}}`)
	t.Run("ok/the same id, revision and document give the same schema", func(t *testing.T) {
		a, err := Compile("cache-test", 1, doc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Compile("cache-test", 1, append([]byte(nil), doc...))
		if err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Error("the second Compile did not return the cached schema")
		}
	})
	t.Run("ok/another revision is another schema", func(t *testing.T) {
		a, _ := Compile("cache-test", 1, doc)
		b, err := Compile("cache-test", 2, doc)
		if err != nil {
			t.Fatal(err)
		}
		if a == b || b.Revision() != 2 {
			t.Error("revision 2 shares revision 1's schema")
		}
	})
	t.Run("ok/another document under the same key is compiled, not served stale", func(t *testing.T) {
		c := newSchemaCache(8)
		loose, err := compileCached(c, "tenant-clash", 1, []byte(`{"permission": {"admin": "rw"}}`))
		if err != nil {
			t.Fatal(err)
		}
		strict, err := compileCached(c, "tenant-clash", 1, []byte(`{"permission": {"admin": "rw"}, "additionalProperties": false}`))
		if err != nil {
			t.Fatal(err)
		}
		if loose == strict {
			t.Fatal("a different document got the cached schema")
		}
		if err := strict.Validate([]byte(`{"x": 1}`)); err == nil {
			t.Error("the strict schema accepted an undeclared property")
		}
		if err := loose.Validate([]byte(`{"x": 1}`)); err != nil {
			t.Errorf("the loose schema: %v", err)
		}
		if c.len() != 1 {
			t.Errorf("cache holds %d entries, want 1", c.len())
		}
	})
	t.Run("ok/the least recently used schema is evicted", func(t *testing.T) {
		c := newSchemaCache(2)
		first, _ := compileCached(c, "a", 1, doc)
		if _, err := compileCached(c, "b", 1, doc); err != nil {
			t.Fatal(err)
		}
		if again, _ := compileCached(c, "a", 1, doc); again != first { // a is now the most recent
			t.Fatal("a was not cached")
		}
		if _, err := compileCached(c, "c", 1, doc); err != nil { // evicts b
			t.Fatal(err)
		}
		if c.len() != 2 {
			t.Errorf("cache holds %d entries, want 2", c.len())
		}
		if c.get("b", 1, doc) != nil {
			t.Error("b survived although it was the least recently used")
		}
		if c.get("a", 1, doc) != first {
			t.Error("a was evicted although it was used recently")
		}
	})
	t.Run("ok/failed compilations are not cached", func(t *testing.T) {
		c := newSchemaCache(2)
		if _, err := compileCached(c, "bad", 1, []byte(`{`)); err == nil {
			t.Fatal("no error")
		}
		if c.len() != 0 {
			t.Errorf("cache holds %d entries", c.len())
		}
	})
	t.Run("ok/concurrent compiles agree on one schema", func(t *testing.T) {
		c := newSchemaCache(4)
		var wg sync.WaitGroup
		got := make([]*Schema, 16)
		for i := range got {
			wg.Go(func() {
				s, err := compileCached(c, "concurrent", 1, Human)
				if err != nil {
					t.Error(err)
				}
				got[i] = s
			})
		}
		wg.Wait()
		for i, s := range got {
			if s != got[0] {
				t.Fatalf("goroutine %d got another schema", i)
			}
		}
	})
}

func TestSchemaIsSafeForConcurrentUse(t *testing.T) {
	s, err := Compile(HumanID, 1, Human)
	if err != nil {
		t.Fatal(err)
	}
	valid := []byte(`{"profile": {"given_name": "Ada", "gender": "female"}}`)
	invalid := []byte(`{"profile": {"given_name": "", "gender": "x"}}`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				if err := s.Validate(valid); err != nil {
					t.Error(err)
					return
				}
				var verr *ValidationError
				if err := s.Validate(invalid); !errors.As(err, &verr) || len(verr.Violations) != 2 {
					t.Errorf("goroutine %d: err = %v", i, err)
					return
				}
				if _, err := s.FilterReadable(valid, Self); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func ExampleCompile() {
	s, err := Compile(MachineID, 1, Machine)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Authenticators(), s.Claims())
	fmt.Println(s.Validate([]byte(`{"description": 42}`)))
	// Output:
	// [machine_key pat client_certificate] map[/name:name]
	// invalid traits: /description: must be string, not number; /name: is required
}
