package userschema

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Forms. A login page or an account page shows the traits a role may write
// as a form of plain inputs, and turns the posted values back into traits:
//
//	inputs := schema.Inputs(userschema.Self)      // what to show, in document order
//	traits, _ := userschema.FormTraits(inputs, posted)
//	err := schema.Validate(traits)                // violations name inputs by Pointer
//
// Only leaf fields with a scalar type become inputs: strings, numbers,
// integers and booleans, and fields whose "enum" lists only strings.
// Arrays, free-form objects and fields without a "type" are left out; a
// violation of one of them names no input, and the page shows it apart.

// Input is a field of the traits that a role may write, as a form shows
// it.
type Input struct {
	// Pointer is the field's JSON pointer into the traits
	// ("/profile/given_name").
	Pointer string
	// Title and Description are the schema's words for the field; either
	// may be empty.
	Title, Description string
	// Type is the field's JSON Schema type: "string", "number", "integer"
	// or "boolean" (the first of a list, "null" aside).
	Type string
	// Format is the schema's "format" ("email", "date", "uri", …) or "".
	Format string
	// Enum lists the allowed values of a field whose "enum" lists only
	// strings, in document order.
	Enum []string
	// Required is set when the field must be present in every valid
	// traits: it is required by its object, and that object by its own,
	// up to the root. A field required only inside an optional object is
	// not, since the object may be left out; validation still names it
	// when the object is given without it.
	Required bool
	// MaxLength is the schema's "maxLength", or 0.
	MaxLength int
	// Claim is the OIDC claim the field feeds, or "" (for autocomplete
	// hints).
	Claim string
}

// Inputs lists the fields role may write as form inputs, in the order the
// schema document declares them.
func (s *Schema) Inputs(role Role) []Input {
	if !role.valid() {
		return nil
	}
	doc, err := decodeJSON(s.document)
	if err != nil {
		return nil
	}
	order := propertyOrder(s.document)
	var out []Input
	var walk func(f *field, schema map[string]any, present bool)
	walk = func(f *field, schema map[string]any, present bool) {
		if len(f.children) == 0 {
			if f.access.of(role)&modeWrite == 0 {
				return
			}
			if in, ok := inputOf(doc, schema); ok {
				in.Pointer, in.Required, in.Claim = f.pointer, present, s.claims[f.pointer]
				out = append(out, in)
			}
			return
		}
		props, _ := schema["properties"].(map[string]any)
		required := map[string]bool{}
		if list, ok := schema["required"].([]any); ok {
			for _, r := range list {
				if name, ok := r.(string); ok {
					required[name] = true
				}
			}
		}
		names := order[f.schemaPointer]
		if len(names) != len(f.children) {
			names = sortedKeys(f.children)
		}
		for _, name := range names {
			child, ok := f.children[name]
			if !ok {
				continue
			}
			sub, _ := props[name].(map[string]any)
			walk(child, resolveRef(doc, sub), present && required[name])
		}
	}
	root, _ := doc.(map[string]any)
	walk(s.root, root, true)
	return out
}

// resolveRef follows a same-document "$ref" of a field's schema (a few
// steps at most), so that a field written as {"$ref": "#/$defs/date"}
// shows as its target. Its own title and description win.
func resolveRef(doc any, schema map[string]any) map[string]any {
	for range 8 {
		ref, ok := schema["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#/") {
			return schema
		}
		v, _ := lookupPointer(doc, ref[1:])
		target, ok := v.(map[string]any)
		if !ok {
			return schema
		}
		merged := make(map[string]any, len(target)+2)
		for k, v := range target {
			merged[k] = v
		}
		for _, k := range []string{"title", "description"} {
			if v, ok := schema[k]; ok {
				merged[k] = v
			}
		}
		schema = merged
	}
	return schema
}

// inputOf describes a leaf field's schema as an input, or reports that it
// cannot be one.
func inputOf(doc any, schema map[string]any) (Input, bool) {
	schema = resolveRef(doc, schema)
	in := Input{}
	in.Title, _ = schema["title"].(string)
	in.Description, _ = schema["description"].(string)
	in.Format, _ = schema["format"].(string)
	switch t := schema["type"].(type) {
	case string:
		in.Type = t
	case []any:
		for _, e := range t {
			if s, _ := e.(string); s != "" && s != "null" {
				in.Type = s
				break
			}
		}
	}
	if enum, ok := schema["enum"].([]any); ok && len(enum) > 0 {
		for _, e := range enum {
			s, ok := e.(string)
			if !ok {
				in.Enum = nil
				break
			}
			in.Enum = append(in.Enum, s)
		}
		if in.Enum != nil && in.Type == "" {
			in.Type = "string"
		}
	}
	if n, ok := schema["maxLength"].(json.Number); ok {
		if v, err := strconv.Atoi(n.String()); err == nil && v > 0 {
			in.MaxLength = v
		}
	}
	switch in.Type {
	case "string", "number", "integer", "boolean":
		return in, true
	}
	return Input{}, false
}

// propertyOrder maps the schema pointer of every schema object with
// "properties" to the names it declares there, in document order (the
// decoded document is a map and has none).
func propertyOrder(document []byte) map[string][]string {
	dec := json.NewDecoder(bytes.NewReader(document))
	dec.UseNumber()
	out := map[string][]string{}
	// walk reads one value at pointer; names collects the keys of an
	// object when it is a "properties" map.
	var walk func(pointer string, names *[]string) bool
	walk = func(pointer string, names *[]string) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return true
		}
		switch d {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return false
				}
				key, _ := kt.(string)
				if names != nil {
					*names = append(*names, key)
				}
				if key == "properties" && names == nil {
					var list []string
					if !walk(pointer+"/properties", &list) {
						return false
					}
					out[pointer] = list
					continue
				}
				if !walk(pointer+"/"+escapeToken(key), nil) {
					return false
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if !walk(pointer+"/"+strconv.Itoa(i), nil) {
					return false
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err == nil
	}
	walk("", nil)
	return out
}

// FormTraits builds traits from posted form values, keyed by the inputs'
// pointers. An empty value leaves its field out, so that "required"
// names it. A number or integer that does not parse is kept as a string,
// so that validation names the field ("must be number, not string"). A
// boolean is true for "true" or "on" (a checked checkbox) and false
// otherwise, a missing value included. Values of pointers that are not
// inputs are ignored.
func FormTraits(inputs []Input, values map[string]string) (json.RawMessage, error) {
	root := map[string]any{}
	for _, in := range inputs {
		v, ok := formValue(in, values[in.Pointer])
		if !ok {
			continue
		}
		setPointer(root, in.Pointer, v)
	}
	return json.Marshal(root)
}

// FormPatch is FormTraits as an RFC 7396 merge patch for traits the user
// already has (an account page): an input left empty is null, which
// removes the field — unless nothing else of its object is given, so that
// the patch never creates an object just to leave it empty. Fields that
// are not inputs are not in the patch and stay as they are.
func FormPatch(inputs []Input, values map[string]string) (json.RawMessage, error) {
	root := map[string]any{}
	given := map[string]bool{} // parent pointers with a value
	for _, in := range inputs {
		if _, ok := formValue(in, values[in.Pointer]); ok {
			given[parentPointer(in.Pointer)] = true
		}
	}
	for _, in := range inputs {
		v, ok := formValue(in, values[in.Pointer])
		if !ok {
			if parent := parentPointer(in.Pointer); parent != "" && !given[parent] {
				continue
			}
			v = nil
		}
		setPointer(root, in.Pointer, v)
	}
	return json.Marshal(root)
}

func formValue(in Input, raw string) (any, bool) {
	if in.Type == "boolean" {
		return raw == "true" || raw == "on", true
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, false
	}
	if in.Type == "number" || in.Type == "integer" {
		if _, err := strconv.ParseFloat(raw, 64); err == nil && json.Valid([]byte(raw)) {
			return json.Number(raw), true
		}
	}
	return raw, true
}

func parentPointer(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return ""
}

// setPointer sets v at pointer in root, creating the objects on the way.
func setPointer(root map[string]any, pointer string, v any) {
	toks := strings.Split(pointer[1:], "/")
	obj := root
	for _, tok := range toks[:len(toks)-1] {
		name := unescapeToken(tok)
		next, ok := obj[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[name] = next
		}
		obj = next
	}
	obj[unescapeToken(toks[len(toks)-1])] = v
}

// FormValues returns the values of traits at the inputs' pointers as a
// form shows them (a number as written, a boolean as "true" or ""), to
// fill a form with what the user has.
func FormValues(inputs []Input, traits []byte) map[string]string {
	out := map[string]string{}
	doc, err := decodeJSON(traits)
	if err != nil {
		return out
	}
	for _, in := range inputs {
		v, _ := lookupPointer(doc, in.Pointer)
		switch v := v.(type) {
		case string:
			out[in.Pointer] = v
		case json.Number:
			out[in.Pointer] = v.String()
		case bool:
			if v {
				out[in.Pointer] = "true"
			}
		}
	}
	return out
}

func unescapeToken(s string) string {
	if !strings.Contains(s, "~") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}
