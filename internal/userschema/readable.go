package userschema

import "strings"

// Readable reports whether role may read the trait at pointer (a JSON
// pointer into the traits) under this schema, as FilterReadable decides:
// a declared field by its own permission, anything below an undeclared
// property or inside a field without declared properties by the nearest
// declared field. Search uses it so that nothing role may not read can be
// probed through filters.
func (s *Schema) Readable(pointer string, role Role) bool {
	if !role.valid() || !strings.HasPrefix(pointer, "/") {
		return false
	}
	f := s.root
	for _, tok := range strings.Split(pointer, "/")[1:] {
		if len(f.children) == 0 {
			break
		}
		child, declared := f.children[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
		if !declared {
			break
		}
		f = child
	}
	return f.access.of(role)&modeRead != 0
}

// MayHold reports whether traits valid under this schema may hold a value
// at pointer: false only when the pointer leads into an object that
// declares its properties, does not declare this one and accepts no
// other.
func (s *Schema) MayHold(pointer string) bool {
	if !strings.HasPrefix(pointer, "/") {
		return false
	}
	f := s.root
	for _, tok := range strings.Split(pointer, "/")[1:] {
		if len(f.children) == 0 {
			return true
		}
		child, declared := f.children[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
		if !declared {
			return f.open
		}
		f = child
	}
	return true
}
