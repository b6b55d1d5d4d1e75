package userschema

import (
	"testing"

	"github.com/castellan-iam/castellan/internal/failure"
)

func TestMergePatch(t *testing.T) {
	tests := []struct {
		name                string
		target, patch, want string
	}{
		// RFC 7396 appendix A, in order.
		{name: "ok/A.1 replaces a member", target: `{"a":"b"}`, patch: `{"a":"c"}`, want: `{"a":"c"}`},
		{name: "ok/A.2 adds a member", target: `{"a":"b"}`, patch: `{"b":"c"}`, want: `{"a":"b","b":"c"}`},
		{name: "ok/A.3 null removes a member", target: `{"a":"b"}`, patch: `{"a":null}`, want: `{}`},
		{name: "ok/A.4 null removes only that member", target: `{"a":"b","b":"c"}`, patch: `{"a":null}`, want: `{"b":"c"}`},
		{name: "ok/A.5 a string replaces an array", target: `{"a":["b"]}`, patch: `{"a":"c"}`, want: `{"a":"c"}`},
		{name: "ok/A.6 an array replaces a string", target: `{"a":"c"}`, patch: `{"a":["b"]}`, want: `{"a":["b"]}`},
		{name: "ok/A.7 objects merge recursively", target: `{"a":{"b":"c"}}`, patch: `{"a":{"b":"d","c":null}}`, want: `{"a":{"b":"d"}}`},
		{name: "ok/A.8 arrays are replaced, not merged", target: `{"a":[{"b":"c"}]}`, patch: `{"a":[1]}`, want: `{"a":[1]}`},
		{name: "ok/A.9 an array patch replaces an array", target: `["a","b"]`, patch: `["c","d"]`, want: `["c","d"]`},
		{name: "ok/A.10 an array patch replaces an object", target: `{"a":"b"}`, patch: `["c"]`, want: `["c"]`},
		{name: "ok/A.11 a null patch replaces the document", target: `{"a":"foo"}`, patch: `null`, want: `null`},
		{name: "ok/A.12 a string patch replaces the document", target: `{"a":"foo"}`, patch: `"bar"`, want: `"bar"`},
		{name: "ok/A.13 nulls in the target stay", target: `{"e":null}`, patch: `{"a":1}`, want: `{"a":1,"e":null}`},
		{name: "ok/A.14 an object patch replaces an array target", target: `[1,2]`, patch: `{"a":"b","c":null}`, want: `{"a":"b"}`},
		{name: "ok/A.15 nulls inside new members are dropped", target: `{}`, patch: `{"a":{"bb":{"ccc":null}}}`, want: `{"a":{"bb":{}}}`},

		{name: "ok/empty traits are no document", target: ``, patch: `{"profile":{"nick_name":"ada"}}`, want: `{"profile":{"nick_name":"ada"}}`},
		{name: "ok/numbers keep their exact text", target: `{"n":12345678901234567890}`, patch: `{"m":1.50}`, want: `{"m":1.50,"n":12345678901234567890}`},
		{name: "ok/an empty patch changes nothing", target: `{"a":{"b":1}}`, patch: `{}`, want: `{"a":{"b":1}}`},
		{name: "ok/no HTML escaping", target: `{}`, patch: `{"a":"<&>"}`, want: `{"a":"<&>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergePatch([]byte(tt.target), []byte(tt.patch))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("MergePatch(%s, %s) = %s, want %s", tt.target, tt.patch, got, tt.want)
			}
		})
	}

	for _, tt := range []struct{ name, target, patch, field string }{
		{name: "fail/bad traits", target: `{"a":`, patch: `{}`, field: "traits"},
		{name: "fail/bad patch", target: `{}`, patch: `{"a"}`, field: "patch"},
		{name: "fail/empty patch", target: `{}`, patch: ``, field: "patch"},
		{name: "fail/data after the patch", target: `{}`, patch: `{} []`, field: "patch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MergePatch([]byte(tt.target), []byte(tt.patch))
			if !failure.Is(err, failure.KindInvalidArgument) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
			if fe := err.(*failure.Error); fe.Field != tt.field {
				t.Errorf("field = %q, want %q", fe.Field, tt.field)
			}
		})
	}
}
