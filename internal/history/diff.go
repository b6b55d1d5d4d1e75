package history

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Kinds of Change.
const (
	// Added: absent at the first moment, present at the second.
	Added = "added"
	// Removed: present at the first moment, absent at the second.
	Removed = "removed"
	// Changed: present at both, with different values.
	Changed = "changed"
)

// Redacted stands for the value of a field that holds credential
// material (see Diff).
const Redacted = "[redacted]"

// Change is one field that differs between two states: its path, what
// happened to it (Added, Removed, Changed) and its values before and after
// (nil where absent).
//
// The path is a JSON pointer (RFC 6901) whose steps into a collection name
// the element by its identity, not its index: "/Roles/admin/DisplayName"
// is the display name of role admin, "/Grants/3c1f…/Roles/viewer" role
// viewer of that grant, "/Applications/9a…/RedirectURIs/https:~1~1app~1cb"
// a redirect URI ("~1" is "/", "~0" is "~"). Adding or removing an element
// is one change at its path with the whole element as its value.
type Change struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// identities are the fields that name an element of a collection, by
// preference: an array whose elements are all objects with the same one of
// them, distinct within each side, is compared by it.
var identities = []string{"ID", "id", "Key", "key", "Name", "name", "kid"}

// Diff compares two states field by field, through their JSON form, and
// returns the changes sorted by path.
//
//   - Objects are compared key by key, at any depth.
//   - Collections are compared by identity: an array of objects that all
//     carry a distinct ID (or id, Key, key, Name, name, kid) is matched by
//     it, an array of distinct non-empty strings is a set; added
//     and removed elements are one change each, an element present on both
//     sides is compared field by field. A collection whose elements differ
//     only in order is one change of the whole array. A missing (null)
//     array is an empty one.
//   - Other arrays are compared index by index when their lengths match,
//     as a whole otherwise.
//
// A field whose name hide reports (at any depth; nil hides none) never
// shows its value: a change of it reads Redacted before and after, and
// an added or removed element holding it shows Redacted in its place. The
// diff is complete: it is empty only when the two JSON forms are equal,
// a null field counting as an absent one.
func Diff(before, after any, hide func(field string) bool) ([]Change, error) {
	var a, b any
	for _, p := range []struct {
		in  any
		out *any
	}{{before, &a}, {after, &b}} {
		raw, err := json.Marshal(p.in)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, p.out); err != nil {
			return nil, err
		}
	}
	d := differ{hide: hide}
	d.diff("", a, b)
	for i := range d.out {
		d.out[i].Before, d.out[i].After = d.scrub(d.out[i].Before), d.scrub(d.out[i].After)
	}
	slices.SortFunc(d.out, func(x, y Change) int { return strings.Compare(x.Path, y.Path) })
	return d.out, nil
}

// Escape makes a JSON pointer step of a key or identity.
func Escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

type differ struct {
	hide func(string) bool
	out  []Change
}

func (d *differ) hidden(k string) bool { return d.hide != nil && d.hide(k) }

// scrub replaces hidden fields' values at any depth.
func (d *differ) scrub(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if d.hidden(k) {
				v[k] = Redacted
			} else {
				v[k] = d.scrub(x)
			}
		}
	case []any:
		for i, x := range v {
			v[i] = d.scrub(x)
		}
	}
	return v
}

func (d *differ) add(path string, a, b any) {
	kind := Changed
	switch {
	case a == nil:
		kind = Added
	case b == nil:
		kind = Removed
	}
	d.out = append(d.out, Change{Path: path, Kind: kind, Before: a, After: b})
}

func (d *differ) diff(path string, a, b any) {
	if reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, av := range am {
			d.field(path+"/"+Escape(k), k, av, bm[k])
		}
		for k, bv := range bm {
			if _, seen := am[k]; !seen {
				d.field(path+"/"+Escape(k), k, nil, bv)
			}
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if (aok || a == nil) && (bok || b == nil) {
		if key := identity(as, bs); key != nil {
			d.collection(path, as, bs, key)
			return
		}
		if aok && bok && len(as) == len(bs) {
			for i := range as {
				d.diff(path+"/"+strconv.Itoa(i), as[i], bs[i])
			}
			return
		}
	}
	d.add(path, a, b)
}

// field compares the values of one key of two objects.
func (d *differ) field(path, key string, a, b any) {
	if !d.hidden(key) {
		d.diff(path, a, b)
		return
	}
	if reflect.DeepEqual(a, b) {
		return
	}
	mark := func(v any) any {
		if v == nil {
			return nil
		}
		return Redacted
	}
	d.add(path, mark(a), mark(b))
}

// collection compares two arrays element by element, matched by key.
func (d *differ) collection(path string, as, bs []any, key func(any) string) {
	n := len(d.out)
	inB := make(map[string]any, len(bs))
	for _, e := range bs {
		inB[key(e)] = e
	}
	inA := make(map[string]bool, len(as))
	for _, e := range as {
		k := key(e)
		inA[k] = true
		if other, ok := inB[k]; ok {
			d.diff(path+"/"+Escape(k), e, other)
		} else {
			d.add(path+"/"+Escape(k), e, nil)
		}
	}
	for _, e := range bs {
		if k := key(e); !inA[k] {
			d.add(path+"/"+Escape(k), nil, e)
		}
	}
	if len(d.out) == n && len(as)+len(bs) > 0 {
		// The same elements in another order.
		d.add(path, as, bs)
	}
}

// identity returns how the elements of two arrays are named, or nil when
// they are not a collection: every element an object carrying the same
// identity field (a string or a number), or every element a non-empty
// string, distinct within each array.
func identity(as, bs []any) func(any) string {
	if len(as)+len(bs) == 0 {
		return nil
	}
	all := slices.Concat(as, bs)
	distinct := func(key func(any) (string, bool)) func(any) string {
		for _, side := range [][]any{as, bs} {
			seen := make(map[string]bool, len(side))
			for _, e := range side {
				k, ok := key(e)
				if !ok || seen[k] {
					return nil
				}
				seen[k] = true
			}
		}
		return func(e any) string { k, _ := key(e); return k }
	}
	if _, isObject := all[0].(map[string]any); isObject {
		for _, f := range identities {
			if key := distinct(func(e any) (string, bool) {
				m, ok := e.(map[string]any)
				if !ok {
					return "", false
				}
				return scalar(m[f])
			}); key != nil {
				return key
			}
		}
		return nil
	}
	return distinct(func(e any) (string, bool) {
		s, ok := e.(string)
		return s, ok && s != ""
	})
}

// scalar names a non-empty string or a number.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, v != ""
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}
