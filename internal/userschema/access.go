package userschema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
)

// Role is who acts on a user's traits: the user itself or an administrator.
// The zero Role is invalid and may do nothing.
type Role int

// The roles of the "permission" annotation.
const (
	Self Role = iota + 1
	Admin
)

func (r Role) String() string {
	switch r {
	case Self:
		return "self"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

func (r Role) valid() bool { return r == Self || r == Admin }

// FilterReadable returns traits without the fields role may not read. An
// object left empty only because its fields were removed is removed too, so
// the result does not reveal that hidden fields are set.
func (s *Schema) FilterReadable(traits []byte, role Role) ([]byte, error) {
	if !role.valid() {
		return nil, failure.Internal(nil, "unknown role %v", role)
	}
	obj, err := decodeTraits(traits)
	if err != nil {
		return nil, failure.InvalidArgument("traits", "%v", err)
	}
	out, _ := filterReadable(s.root, obj, role)
	if out == nil {
		out = map[string]any{}
	}
	return encodeJSON(out)
}

// ReadsAll reports whether role may read every field of the schema, so
// that FilterReadable would remove nothing: a reader that only passes the
// traits on as a value (the API's users) may skip it. FilterReadable also
// re-encodes; the stored traits are as the write path validated them.
func (s *Schema) ReadsAll(role Role) bool { return role.valid() && s.readsAll[role] }

// readsAll reports whether role may read f and everything below it (an
// undeclared property takes its object's access).
func readsAll(f *field, role Role) bool {
	if f == nil {
		return true
	}
	if f.access.of(role)&modeRead == 0 {
		return false
	}
	for _, c := range f.children {
		if !readsAll(c, role) {
			return false
		}
	}
	return true
}

// filterReadable returns v as role may see it, and whether anything is left.
func filterReadable(f *field, v any, role Role) (any, bool) {
	readable := f.access.of(role)&modeRead != 0
	obj, isObj := v.(map[string]any)
	if len(f.children) == 0 || !isObj {
		return v, readable
	}
	out := make(map[string]any, len(obj))
	for k, cv := range obj {
		if child, declared := f.children[k]; declared {
			if fv, keep := filterReadable(child, cv, role); keep {
				out[k] = fv
			}
		} else if readable {
			out[k] = cv
		}
	}
	return out, len(out) > 0 || readable
}

// CheckWritable returns nil if role may turn oldTraits into newTraits: every
// field whose value differs (added, changed or removed) must be writable by
// role. Empty oldTraits means a user without traits yet. The error is a
// *failure.Error of kind PermissionDenied whose Field lists the pointers,
// comma-separated.
func (s *Schema) CheckWritable(oldTraits, newTraits []byte, role Role) error {
	if !role.valid() {
		return failure.Internal(nil, "unknown role %v", role)
	}
	var (
		oldObj map[string]any
		err    error
	)
	if len(oldTraits) > 0 {
		if oldObj, err = decodeTraits(oldTraits); err != nil {
			return failure.InvalidArgument("oldTraits", "%v", err)
		}
	}
	newObj, err := decodeTraits(newTraits)
	if err != nil {
		return failure.InvalidArgument("traits", "%v", err)
	}
	c := writeCheck{role: role}
	c.diff(s.root, oldObj, newObj, true, true)
	if len(c.denied) == 0 {
		return nil
	}
	slices.Sort(c.denied)
	c.denied = slices.Compact(c.denied)
	e := failure.PermissionDenied("%s may not change %s", role, strings.Join(c.denied, ", "))
	e.Field = strings.Join(c.denied, ",")
	return e
}

type writeCheck struct {
	role   Role
	denied []string
}

func (c *writeCheck) require(a access, pointer string) {
	if a.of(c.role)&modeWrite == 0 {
		c.denied = append(c.denied, displayPointer(pointer))
	}
}

// diff records the fields under f that differ between old and new and that
// the role may not write. hasOld and hasNew say whether the values exist.
func (c *writeCheck) diff(f *field, old, new any, hasOld, hasNew bool) {
	if hasOld == hasNew && jsonEqual(old, new) {
		return
	}
	if len(f.children) == 0 {
		c.require(f.access, f.pointer)
		return
	}
	oldObj, oldIsObj := old.(map[string]any)
	newObj, newIsObj := new.(map[string]any)
	// Contents are compared property by property, a missing or non-object
	// side counting as empty, so creating {"profile": {"given_name": …}}
	// takes write access on given_name only. The object itself needs write
	// access when it changes shape (to or from a non-object) or when it
	// appears or disappears empty, the two changes its contents do not show.
	shapeChanges := (hasOld && !oldIsObj) || (hasNew && !newIsObj)
	emptyAppears := hasOld != hasNew && len(oldObj) == 0 && len(newObj) == 0
	if shapeChanges || emptyAppears {
		c.require(f.access, f.pointer)
	}
	for k, ov := range oldObj {
		nv, inNew := newObj[k]
		c.diffProperty(f, k, ov, nv, true, inNew)
	}
	for k, nv := range newObj {
		if _, inOld := oldObj[k]; !inOld {
			c.diffProperty(f, k, nil, nv, false, true)
		}
	}
}

func (c *writeCheck) diffProperty(f *field, name string, old, new any, hasOld, hasNew bool) {
	if child, declared := f.children[name]; declared {
		c.diff(child, old, new, hasOld, hasNew)
		return
	}
	if hasOld == hasNew && jsonEqual(old, new) {
		return
	}
	c.require(f.access, f.pointer+"/"+escapeToken(name))
}
