package history

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Change is one field that differs between two states: its JSON pointer
// (RFC 6901) and its values before and after (nil where absent).
type Change struct {
	Path   string `json:"path"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// Diff compares two states field by field, through their JSON form, and
// returns the changes by path. Objects are compared key by key at any
// depth; arrays of different lengths, or values of different kinds, are
// one change.
func Diff(before, after any) ([]Change, error) {
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
	var out []Change
	diff("", a, b, &out)
	slices.SortFunc(out, func(x, y Change) int { return strings.Compare(x.Path, y.Path) })
	return out, nil
}

func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func diff(path string, a, b any, out *[]Change) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, av := range am {
			diff(path+"/"+escape(k), av, bm[k], out)
		}
		for k, bv := range bm {
			if _, seen := am[k]; !seen {
				diff(path+"/"+escape(k), nil, bv, out)
			}
		}
		return
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		for i := range as {
			diff(path+"/"+strconv.Itoa(i), as[i], bs[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, Change{Path: path, Before: a, After: b})
	}
}
