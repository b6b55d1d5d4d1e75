package userschema

import "github.com/castellan-iam/castellan/internal/failure"

// MergePatch applies an RFC 7396 JSON merge patch to traits and returns the
// result: object members of patch are merged recursively, null removes a
// member, and any other value replaces the target. Empty traits count as no
// document (null). Numbers keep their exact text.
func MergePatch(traits, patch []byte) ([]byte, error) {
	var target any
	if len(traits) > 0 {
		var err error
		if target, err = decodeJSON(traits); err != nil {
			return nil, failure.InvalidArgument("traits", "not valid JSON: %v", err)
		}
	}
	p, err := decodeJSON(patch)
	if err != nil {
		return nil, failure.InvalidArgument("patch", "not valid JSON: %v", err)
	}
	return encodeJSON(mergePatch(target, p))
}

// mergePatch is the MergePatch function of RFC 7396 section 2. It may modify
// target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = make(map[string]any, len(p))
	}
	for name, value := range p {
		if value == nil {
			delete(t, name)
		} else {
			t[name] = mergePatch(t[name], value)
		}
	}
	return t
}
