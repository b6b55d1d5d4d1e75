package login

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// A traitForm is the part of a page generated from a user schema: one
// input for every field the role may write (userschema.Schema.Inputs).
// A page puts it in its own data and writes it with the shared template
// "fields" (templates/form.html):
//
//	f := newTraitForm(schema, userschema.Self, currentTraits) // nil traits: empty
//	… render: {{template "fields" .Page.Form}}
//	traits, err := f.read(r)       // after h.form(…): the posted values, kept for the page
//	err = schema.Validate(traits)  // or the command's error
//	if f.show(err) { render again } // the violations next to their inputs
//
// Labels and hints are the schema's "title" and "description" (the
// field's name when there is no title); they are the schema's words and
// not translated. Posted inputs are named "trait" + the field's JSON
// pointer ("trait/profile/given_name").
type traitForm struct {
	Fields []formField
	// Errors are violations that name no input of the form (a field of
	// the traits that is not an input, or the traits as a whole).
	Errors []string
	inputs []userschema.Input
}

// formField is one input as the template writes it.
type formField struct {
	Name, ID     string
	Label, Hint  string
	Kind         string // an <input> type, "select" or "checkbox"
	Step         string // of a number
	Options      []string
	Required     bool
	Value        string
	MaxLength    int
	Autocomplete string
	// Error is the violation shown under the input; ErrorKey is a message
	// of the catalogue (translated), Error the validator's own words.
	Error, ErrorKey string
}

// DescribedBy is the input's aria-describedby: its hint and its error.
func (f formField) DescribedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.Error != "" || f.ErrorKey != "" {
		ids = append(ids, f.ID+"-error")
	}
	return strings.Join(ids, " ")
}

// Invalid reports whether the input shows an error.
func (f formField) Invalid() bool { return f.Error != "" || f.ErrorKey != "" }

// autocompleteOf are the autocomplete tokens of the claims a field feeds.
var autocompleteOf = map[string]string{
	"given_name": "given-name", "family_name": "family-name", "middle_name": "additional-name",
	"nickname": "nickname", "name": "name", "locale": "language", "picture": "photo",
	"website": "url", "birthdate": "bday", "zoneinfo": "off",
}

// newTraitForm generates the form of role's writable fields of schema,
// filled with traits (nil for none).
func newTraitForm(schema *userschema.Schema, role userschema.Role, traits []byte) traitForm {
	inputs := schema.Inputs(role)
	values := map[string]string{}
	if len(traits) > 0 {
		values = userschema.FormValues(inputs, traits)
	}
	f := traitForm{inputs: inputs}
	for i, in := range inputs {
		ff := formField{
			Name: "trait" + in.Pointer, ID: "trait-" + strconv.Itoa(i), Label: in.Title, Hint: in.Description,
			Required: in.Required, Value: values[in.Pointer], MaxLength: in.MaxLength, Autocomplete: autocompleteOf[in.Claim],
		}
		if ff.Label == "" {
			ff.Label = labelOf(in.Pointer)
		}
		switch {
		case len(in.Enum) > 0:
			ff.Kind, ff.Options = "select", in.Enum
		case in.Type == "boolean":
			ff.Kind = "checkbox"
		case in.Type == "integer":
			ff.Kind, ff.Step = "number", "1"
		case in.Type == "number":
			ff.Kind, ff.Step = "number", "any"
		case in.Format == "email":
			ff.Kind = "email"
		case in.Format == "uri" || in.Format == "iri":
			ff.Kind = "url"
		case in.Format == "date":
			ff.Kind = "date"
		case isPhone(in.Pointer):
			ff.Kind = "tel"
		default:
			ff.Kind = "text"
		}
		f.Fields = append(f.Fields, ff)
	}
	return f
}

// labelOf is a field's label when its schema has no title: its last name,
// with underscores as spaces ("given_name" → "given name").
func labelOf(pointer string) string {
	name := pointer[strings.LastIndexByte(pointer, '/')+1:]
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")
	return strings.ReplaceAll(name, "_", " ")
}

// isPhone tells a phone number field by its name, JSON Schema having no
// format for one: "phone", "mobile", "fax", "phone_number", "tel" ….
func isPhone(pointer string) bool {
	name := strings.ToLower(pointer[strings.LastIndexByte(pointer, '/')+1:])
	for _, n := range []string{"phone", "mobile", "fax", "tel", "telephone"} {
		if name == n || strings.HasPrefix(name, n+"_") || strings.HasSuffix(name, "_"+n) {
			return true
		}
	}
	return false
}

// values are the posted values of the form's inputs, by pointer; the
// fields keep them to show the page again.
func (f *traitForm) values(r *http.Request) map[string]string {
	out := make(map[string]string, len(f.Fields))
	for i := range f.Fields {
		v := r.PostFormValue(f.Fields[i].Name)
		f.Fields[i].Value = v
		out[f.inputs[i].Pointer] = v
	}
	return out
}

// read returns the traits of a posted form (userschema.FormTraits), for a
// new user.
func (f *traitForm) read(r *http.Request) (json.RawMessage, error) {
	return userschema.FormTraits(f.inputs, f.values(r))
}

// readPatch returns the posted form as a merge patch of the user's traits
// (userschema.FormPatch), for a user that has some.
func (f *traitForm) readPatch(r *http.Request) (json.RawMessage, error) {
	return userschema.FormPatch(f.inputs, f.values(r))
}

// show puts the violations of err next to their inputs, the others in
// Errors, and reports whether err named any field of the traits: a
// *userschema.ValidationError, or a failure whose field is under
// "traits" (a unique value taken, a field the role may not write).
func (f *traitForm) show(err error) bool {
	var verr *userschema.ValidationError
	if errors.As(err, &verr) {
		for _, v := range verr.Violations {
			f.place(v.Pointer, v.Message)
		}
		return true
	}
	var fe *failure.Error
	if errors.As(err, &fe) && strings.HasPrefix(fe.Field, "traits/") {
		if fe.Kind == failure.KindAlreadyExists {
			f.placeKey(strings.TrimPrefix(fe.Field, "traits"), "This value is already taken.")
		} else {
			f.place(strings.TrimPrefix(fe.Field, "traits"), "cannot be set here")
		}
		return true
	}
	return false
}

func (f *traitForm) place(pointer, message string) {
	if message == "is required" {
		f.placeKey(pointer, "This field is required.")
		return
	}
	for i, in := range f.inputs {
		if in.Pointer == pointer {
			if f.Fields[i].Error == "" {
				f.Fields[i].Error = "This field " + message + "."
			}
			return
		}
	}
	f.Errors = append(f.Errors, displayPointer(pointer)+": "+message)
}

func (f *traitForm) placeKey(pointer, key string) {
	for i, in := range f.inputs {
		if in.Pointer == pointer {
			f.Fields[i].ErrorKey = key
			return
		}
	}
	// A required object left out, its inputs all empty: the inputs it
	// requires are what is missing (its first input, if it requires none
	// of them).
	var under []int
	for i, in := range f.inputs {
		if strings.HasPrefix(in.Pointer, pointer+"/") {
			under = append(under, i)
		}
	}
	placed := false
	for _, i := range under {
		if f.inputs[i].Required {
			f.Fields[i].ErrorKey, placed = key, true
		}
	}
	if !placed && len(under) > 0 {
		f.Fields[under[0]].ErrorKey, placed = key, true
	}
	if placed {
		return
	}
	f.Errors = append(f.Errors, displayPointer(pointer)+": "+key)
}

func displayPointer(p string) string {
	if p == "" {
		return "/"
	}
	return p
}
