package userschema

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

// employeeSchema mixes inherited, explicit, write-only and admin-only fields.
const employeeSchema = `{
	"permission": {"self": "r", "admin": "rw"},
	"additionalProperties": false,
	"properties": {
		"profile": {
			"type": "object",
			"permission": {"self": "rw", "admin": "rw"},
			"additionalProperties": false,
			"properties": {"nick": {"type": "string"}, "langs": {"type": "array", "items": {"type": "string"}}}
		},
		"employee_id": {"type": "string", "unique": "org"},
		"salary_band": {"type": "string", "permission": {"admin": "rw"}},
		"security_answer": {"type": "string", "permission": {"self": "w", "admin": "r"}},
		"internal": {
			"type": "object",
			"permission": {"admin": "rw"},
			"additionalProperties": false,
			"properties": {"notes": {"type": "string"}, "level": {"type": "integer"}}
		},
		"extra": {
			"type": "object",
			"properties": {"badge": {"type": "string", "permission": {"admin": "r"}}}
		}
	}
}`

const employee = `{
	"profile": {"nick": "ada", "langs": ["en"]},
	"employee_id": "E-1",
	"salary_band": "B3",
	"security_answer": "Rex",
	"internal": {"notes": "great", "level": 12345678901234567890},
	"extra": {"badge": "42", "floor": 3}
}`

func compileEmployee(t testing.TB) *Schema {
	t.Helper()
	s, err := compile("employee", 1, []byte(employeeSchema))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(employee)); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFilterReadable(t *testing.T) {
	s := compileEmployee(t)
	tests := []struct {
		name   string
		traits string
		role   Role
		want   string
	}{
		{
			name:   "ok/self sees its profile and inherited fields but not admin-only or write-only ones",
			traits: employee, role: Self,
			want: `{"employee_id":"E-1","extra":{"floor":3},"profile":{"langs":["en"],"nick":"ada"}}`,
		},
		{
			name:   "ok/admin sees everything it may read, numbers kept exactly",
			traits: employee, role: Admin,
			want: `{"employee_id":"E-1","extra":{"badge":"42","floor":3},"internal":{"level":12345678901234567890,"notes":"great"},"profile":{"langs":["en"],"nick":"ada"},"salary_band":"B3","security_answer":"Rex"}`,
		},
		{
			name:   "ok/an object emptied by filtering disappears unless the role may read the object",
			traits: `{"internal": {"notes": "x"}, "extra": {"badge": "1"}}`, role: Self,
			want: `{"extra":{}}`,
		},
		{
			name:   "ok/an empty object the role may read stays",
			traits: `{"profile": {}}`, role: Self,
			want: `{"profile":{}}`,
		},
		{
			name:   "ok/a value of the wrong shape is filtered as a whole",
			traits: `{"internal": "oops", "profile": 7}`, role: Self,
			want: `{"profile":7}`,
		},
		{
			name:   "ok/no HTML escaping",
			traits: `{"profile": {"nick": "<a&b>"}}`, role: Self,
			want: `{"profile":{"nick":"<a&b>"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.FilterReadable([]byte(tt.traits), tt.role)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("FilterReadable =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}

	t.Run("fail/traits are not an object", func(t *testing.T) {
		if _, err := s.FilterReadable([]byte(`[1]`), Admin); !failure.Is(err, failure.KindInvalidArgument) {
			t.Errorf("err = %v, want invalid argument", err)
		}
	})
	t.Run("fail/unknown role", func(t *testing.T) {
		if _, err := s.FilterReadable([]byte(employee), Role(0)); err == nil {
			t.Error("the zero role could read")
		}
	})
}

func TestCheckWritable(t *testing.T) {
	s := compileEmployee(t)
	// with edits employee with the given top-level members replaced; a nil
	// value removes the member.
	with := func(edits map[string]any) string {
		v, err := decodeJSON([]byte(employee))
		if err != nil {
			t.Fatal(err)
		}
		doc := v.(map[string]any)
		for k, v := range edits {
			if v == nil {
				delete(doc, k)
			} else {
				doc[k] = v
			}
		}
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	obj := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		old, new string
		role     Role
		denied   string // the error's Field; "" means allowed
	}{
		{name: "ok/nothing changes", old: employee, new: employee, role: Self},
		{name: "ok/reformatting is not a change", old: `{"internal": {"level": 10}, "employee_id": "E"}`, new: `{"employee_id":"E","internal":{"level":1.0e1}}`, role: Self},
		{name: "ok/self edits its profile", old: employee, new: with(map[string]any{"profile": obj(`{"nick": "countess", "langs": ["en", "it"]}`)}), role: Self},
		{name: "ok/self sets its write-only answer", old: employee, new: with(map[string]any{"security_answer": "Fido"}), role: Self},
		{name: "ok/self removes its profile", old: employee, new: with(map[string]any{"profile": nil}), role: Self},
		{name: "ok/self creates a user with a profile", old: ``, new: `{"profile": {"nick": "ada"}}`, role: Self},
		{name: "ok/admin changes admin-only fields", old: employee, new: with(map[string]any{"salary_band": "B4", "internal": obj(`{"notes": "ok"}`), "employee_id": "E-2"}), role: Admin},
		{name: "ok/admin adds an undeclared property to an open object", old: employee, new: with(map[string]any{"extra": obj(`{"badge": "42", "floor": 4, "desk": "12b"}`)}), role: Admin},
		{name: "fail/self writes an admin-only field", old: employee, new: with(map[string]any{"salary_band": "B9"}), role: Self, denied: "/salary_band"},
		{name: "fail/self writes a field it may only read", old: employee, new: with(map[string]any{"employee_id": "E-0"}), role: Self, denied: "/employee_id"},
		{name: "fail/self removes an admin-only field", old: employee, new: with(map[string]any{"salary_band": nil}), role: Self, denied: "/salary_band"},
		{name: "fail/self changes a nested admin-only field", old: employee, new: with(map[string]any{"internal": obj(`{"notes": "great", "level": 1}`)}), role: Self, denied: "/internal/level"},
		{name: "fail/self changes an undeclared property it may only read", old: employee, new: with(map[string]any{"extra": obj(`{"badge": "42", "floor": 4}`)}), role: Self, denied: "/extra/floor"},
		{name: "fail/admin writes a field it may only read", old: employee, new: with(map[string]any{"security_answer": "Fido"}), role: Admin, denied: "/security_answer"},
		{name: "fail/admin adds a field it may only read", old: `{}`, new: `{"extra": {"badge": "1"}}`, role: Admin, denied: "/extra/badge"},
		{name: "fail/every denied field is named", old: employee, new: with(map[string]any{"salary_band": "B9", "employee_id": "E-0", "internal": nil}), role: Self, denied: "/employee_id,/internal/level,/internal/notes,/salary_band"},
		{name: "fail/replacing an object by a scalar needs the object and its fields", old: employee, new: with(map[string]any{"internal": "gone"}), role: Self, denied: "/internal,/internal/level,/internal/notes"},
		{name: "fail/an empty object appearing needs the object", old: `{}`, new: `{"internal": {}}`, role: Self, denied: "/internal"},
		{name: "fail/self creates a user with a field it may only read", old: ``, new: `{"employee_id": "E-1"}`, role: Self, denied: "/employee_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckWritable([]byte(tt.old), []byte(tt.new), tt.role)
			if tt.denied == "" {
				if err != nil {
					t.Fatalf("CheckWritable: %v", err)
				}
				return
			}
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindPermissionDenied {
				t.Fatalf("err = %v, want permission denied", err)
			}
			if fe.Field != tt.denied {
				t.Errorf("denied = %q, want %q (%v)", fe.Field, tt.denied, err)
			}
		})
	}

	t.Run("fail/the message names the role and the pointers", func(t *testing.T) {
		err := s.CheckWritable([]byte(employee), []byte(with(map[string]any{"salary_band": "B9"})), Self)
		if want := "/salary_band: self may not change /salary_band"; err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	})
	t.Run("fail/bad new traits", func(t *testing.T) {
		if err := s.CheckWritable([]byte(employee), []byte(`[]`), Admin); !failure.Is(err, failure.KindInvalidArgument) {
			t.Errorf("err = %v, want invalid argument", err)
		}
	})
	t.Run("fail/unknown role", func(t *testing.T) {
		if err := s.CheckWritable([]byte(`{}`), []byte(`{}`), Role(7)); err == nil {
			t.Error("an unknown role passed")
		}
	})
}

func TestNumbersEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"1", "1", true},
		{"1", "1.0", true},
		{"1", "10e-1", true},
		{"100", "1e2", true},
		{"0.5", "5E-1", true},
		{"0", "-0", true},
		{"0", "0.000e5", true},
		{"-1.5", "-15e-1", true},
		{"9007199254740993", "9007199254740992", false},
		{"1", "-1", false},
		{"1e999999999999999999999", "1e999999999999999999998", false},
		{"1e999999999999999999999", "1e999999999999999999999", true},
	}
	for _, tt := range tests {
		if got := numbersEqual(json.Number(tt.a), json.Number(tt.b)); got != tt.want {
			t.Errorf("numbersEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// ReadsAll lets a reader skip FilterReadable: when it holds, the filter
// keeps every value; when a role may not read some field, it does not hold.
func TestReadsAll(t *testing.T) {
	s := compileEmployee(t)
	if s.ReadsAll(Self) {
		t.Fatal("self reads all, but may not read salary_band")
	}
	if !s.ReadsAll(Admin) {
		t.Fatal("admin may read every field but ReadsAll says not")
	}
	if Role(0).valid() || s.ReadsAll(Role(0)) {
		t.Fatal("the zero role reads all")
	}
	out, err := s.FilterReadable([]byte(employee), Admin)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(employee), &want); err != nil {
		t.Fatal(err)
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Fatalf("admin's filtered traits %s differ from the stored %s", g, w)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
