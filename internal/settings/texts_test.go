package settings

import (
	"strings"
	"testing"
)

func TestFormatText(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		args       []any
		want       string
	}{
		{"ok/indexed", "%[2]s before %[1]s", []any{"a", "b"}, "b before a"},
		{"ok/sequential", "%s and %s", []any{"a", "b"}, "a and b"},
		{"ok/an argument left out", "only %[2]s", []any{"a", "b"}, "only b"},
		{"ok/a bare one left out", "nothing", []any{"a"}, "nothing"},
		{"ok/percent", "100%% sure, %s", []any{"a"}, "100% sure, a"},
		{"ok/no argument for it", "%[3]s", []any{"a"}, "%[3]s"},
		{"ok/a number", "%d left", []any{3}, "3 left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatText(tc.text, tc.args...); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzFormatText: any text formats without a panic and without fmt's
// complaints.
func FuzzFormatText(f *testing.F) {
	for _, s := range []string{"%[1]s", "%s %s %s", "%[0]s", "%[99999999999999999999]s", "%", "%%%", "%[1", "%!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := FormatText(s, "a", 1); strings.Contains(got, "%!(EXTRA") {
			t.Fatalf("%q: %q", s, got)
		}
	})
}

// FuzzFrameAncestor: an origin that passes is canonical (validating it
// again gives it back) and cannot break out of the CSP directive.
func FuzzFrameAncestor(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://APP.example.com:443/", "http://[::1]:80", "http://localhost:3000",
		"https://*.example.com", "https://a.example.com; script-src *", "https://a.example.com#", "https://a.example.com?", "https://%61.example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Embedding{FrameAncestors: []string{s}}.Validate()
		if err != nil {
			return
		}
		o := v.(Embedding).FrameAncestors[0]
		if strings.ContainsAny(o, " ;,'*\"\t\r\n%") {
			t.Fatalf("%q passed as %q", s, o)
		}
		again, err := Embedding{FrameAncestors: []string{o}}.Validate()
		if err != nil || again.(Embedding).FrameAncestors[0] != o {
			t.Fatalf("%q → %q → %v %v", s, o, again, err)
		}
	})
}
