package history

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// at reads the values at a change's path in the JSON forms of two states,
// walking both at once so that a collection's elements are found by the
// identity Diff chose for them; ok reports whether the path exists.
func at(a, b any, path string) (va, vb any, oka, okb bool) {
	va, vb, oka, okb = a, b, true, true
	if path == "" {
		return va, vb, va != nil, vb != nil
	}
	for _, step := range strings.Split(path[1:], "/") {
		step = strings.ReplaceAll(strings.ReplaceAll(step, "~1", "/"), "~0", "~")
		as, _ := va.([]any)
		bs, _ := vb.([]any)
		key := identity(as, bs)
		next := func(v any, ok bool) (any, bool) {
			if !ok {
				return nil, false
			}
			switch v := v.(type) {
			case map[string]any:
				x, ok := v[step]
				return x, ok
			case []any:
				if key == nil {
					i, err := strconv.Atoi(step)
					if err != nil || i < 0 || i >= len(v) {
						return nil, false
					}
					return v[i], true
				}
				for _, e := range v {
					if key(e) == step {
						return e, true
					}
				}
			}
			return nil, false
		}
		va, oka = next(va, oka)
		vb, okb = next(vb, okb)
	}
	return va, vb, oka, okb
}

// nonull drops the null fields of objects, at any depth.
func nonull(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if x != nil {
				out[k] = nonull(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = nonull(x)
		}
		return out
	}
	return v
}

// check fails unless every change names its path's values on both sides,
// and unless the diff is empty exactly when the two JSON forms are equal
// (a null field counting as absent).
func check(t *testing.T, a, b any, changes []Change) {
	t.Helper()
	if equal := reflect.DeepEqual(nonull(a), nonull(b)); equal != (len(changes) == 0) {
		t.Fatalf("equal %v, but %d changes: %+v", equal, len(changes), changes)
	}
	for _, c := range changes {
		va, vb, _, _ := at(a, b, c.Path)
		if !reflect.DeepEqual(va, c.Before) || !reflect.DeepEqual(vb, c.After) {
			t.Fatalf("change %+v: the states hold %#v and %#v there", c, va, vb)
		}
		want := Changed
		if c.Before == nil {
			want = Added
		} else if c.After == nil {
			want = Removed
		}
		if c.Kind != want {
			t.Fatalf("change %+v: kind %s, want %s", c, c.Kind, want)
		}
	}
}

func parse(t testing.TB, s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDiffByIdentity: collections compare by identity — elements by ID
// or Key, strings as sets — an order change is one change of the whole
// array, an unnamed list compares by index, and a hidden field shows no
// value, also inside an added element.
func TestDiffByIdentity(t *testing.T) {
	before := parse(t, `{"Name": "Portal",
		"Roles": [{"Key": "admin", "DisplayName": "Admin"}, {"Key": "viewer", "DisplayName": "Viewer"}],
		"Grants": [{"ID": "g1", "Roles": ["admin", "viewer"]}],
		"Apps": [{"ID": "a1", "RedirectURIs": ["https://app/cb"], "secretHash": "h1"}],
		"Order": ["x", "y"], "Points": [[1, 2], [3, 4]], "Domains": null}`)
	after := parse(t, `{"Name": "Portal",
		"Roles": [{"Key": "admin", "DisplayName": "Administrators"}, {"Key": "editor"}],
		"Grants": [{"ID": "g1", "Roles": ["viewer", "editor"]}],
		"Apps": [{"ID": "a1", "RedirectURIs": ["https://app/cb", "https://app/cb2"], "secretHash": "h2"}, {"ID": "a2", "secretHash": "h3"}],
		"Order": ["y", "x"], "Points": [[1, 2], [3, 5]], "Domains": [{"Name": "example.com"}]}`)
	hide := func(k string) bool { return strings.HasSuffix(k, "Hash") }
	got, err := Diff(before, after, hide)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{"/Apps/a1/RedirectURIs/https:~1~1app~1cb2", Added, nil, "https://app/cb2"},
		{"/Apps/a1/secretHash", Changed, Redacted, Redacted},
		{"/Apps/a2", Added, nil, map[string]any{"ID": "a2", "secretHash": Redacted}},
		{"/Domains/example.com", Added, nil, map[string]any{"Name": "example.com"}},
		{"/Grants/g1/Roles/admin", Removed, "admin", nil},
		{"/Grants/g1/Roles/editor", Added, nil, "editor"},
		{"/Order", Changed, []any{"x", "y"}, []any{"y", "x"}},
		{"/Points/1/1", Changed, 4.0, 5.0},
		{"/Roles/admin/DisplayName", Changed, "Admin", "Administrators"},
		{"/Roles/editor", Added, nil, map[string]any{"Key": "editor"}},
		{"/Roles/viewer", Removed, map[string]any{"Key": "viewer", "DisplayName": "Viewer"}, nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff\n got %+v\nwant %+v", got, want)
	}
	// Without hiding, every change reads the states' values.
	all, _ := Diff(before, after, nil)
	check(t, before, after, all)
	if same, _ := Diff(after, after, hide); len(same) != 0 {
		t.Fatalf("a state against itself: %+v", same)
	}
	// An object appearing is one change of the whole.
	if appear, _ := Diff(nil, after, nil); len(appear) != 1 || appear[0].Path != "" || appear[0].Kind != Added {
		t.Fatalf("appearing: %+v", appear)
	}
}

// FuzzDiff: for any two JSON documents, the diff is empty exactly when
// they are equal, and each change names the values its path holds in each.
func FuzzDiff(f *testing.F) {
	f.Add(`{"a": [{"ID": "1", "x": 1}, {"ID": "2"}]}`, `{"a": [{"ID": "2", "x": [1]}, {"ID": "3"}]}`)
	f.Add(`["a", "b", "c"]`, `["c", "b", "a"]`)
	f.Add(`[1, "1"]`, `["1"]`)
	f.Add(`{"a~/b": {"c": null}}`, `{"a~/b": {}}`)
	f.Add(`[{"Key": "k", "Name": "n"}, {"Key": "k"}]`, `[{"Key": "j", "Name": "n"}]`)
	f.Add(`[[1], [2]]`, `[[1], [3], [4]]`)
	f.Add(`{"x": null}`, `{"x": []}`)
	f.Fuzz(func(t *testing.T, x, y string) {
		var a, b any
		if json.Unmarshal([]byte(x), &a) != nil || json.Unmarshal([]byte(y), &b) != nil {
			return
		}
		changes, err := Diff(a, b, nil)
		if err != nil {
			return
		}
		// Diff compares the JSON forms, which round-trip these values.
		check(t, a, b, changes)
	})
}
