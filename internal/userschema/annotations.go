package userschema

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/castellan-iam/castellan/internal/failure"
)

// The annotation keywords.
const (
	kwPermission     = "permission"
	kwOIDCClaim      = "oidcClaim"
	kwSAMLAttribute  = "samlAttribute"
	kwUnique         = "unique"
	kwAuthenticators = "authenticators"
	kwSearch         = "search"
)

var annotationKeywords = []string{kwPermission, kwOIDCClaim, kwSAMLAttribute, kwUnique, kwAuthenticators, kwSearch}

// MaxSearchFields is the most fields a user schema may mark "search": every
// searchable field a user holds is a row of the search index, written with
// the user.
const MaxSearchFields = 16

// knownAuthenticators are the authenticator names a schema may list.
var knownAuthenticators = []string{
	"password", "passkey", "totp", "otp_email", "otp_sms",
	"machine_key", "pat", "client_certificate", "idp",
}

// reservedClaims are claims Castellan issues itself from protocol state or
// contact data; a trait must never feed them.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true,
	"jti": true, "azp": true, "nonce": true, "auth_time": true, "acr": true,
	"amr": true, "at_hash": true, "c_hash": true, "s_hash": true, "sid": true,
	"cnf": true, "act": true, "may_act": true, "scope": true, "client_id": true,
	"email": true, "email_verified": true, "phone_number": true,
	"phone_number_verified": true, "preferred_username": true, "updated_at": true,
	// The roles of projects (package project's claims): the flat list of
	// RFC 9068 section 2.2.3.1, and every urn:castellan: claim.
	"roles": true,
}

// reservedClaimPrefix starts the claims Castellan issues about projects
// and organizations; no trait may feed one.
const reservedClaimPrefix = "urn:castellan:"

// knownFormats are the formats the validator asserts (its v6.0.2 table plus
// "regex"). Any other name would be silently ignored, so Compile rejects it.
var knownFormats = map[string]bool{
	"json-pointer": true, "relative-json-pointer": true, "uuid": true,
	"duration": true, "period": true, "ipv4": true, "ipv6": true,
	"hostname": true, "email": true, "date": true, "time": true,
	"date-time": true, "uri": true, "iri": true, "uri-reference": true,
	"iri-reference": true, "uri-template": true, "semver": true, "regex": true,
}

// Keywords whose values are subschemas, by shape, and keywords that refer.
var (
	schemaMapKeywords   = []string{"$defs", "definitions", "patternProperties", "dependentSchemas"}
	schemaKeywords      = []string{"additionalProperties", "unevaluatedProperties", "items", "unevaluatedItems", "contains", "propertyNames", "not", "if", "then", "else", "contentSchema", "additionalItems"}
	schemaArrayKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems"}
	referenceKeywords   = []string{"$ref", "$dynamicRef", "$recursiveRef"}
)

// draft202012 are the accepted values of "$schema".
var draft202012 = []string{"https://json-schema.org/draft/2020-12/schema", "https://json-schema.org/draft/2020-12/schema#"}

const (
	maxSchemaDepth       = 64   // nested subschemas
	maxAnnotationNameLen = 1024 // bytes of a claim or SAML attribute name
)

// mode is what one role may do with a field.
type mode uint8

const (
	modeRead mode = 1 << iota
	modeWrite
)

func parseMode(s string) (mode, bool) {
	switch s {
	case "":
		return 0, true
	case "r":
		return modeRead, true
	case "w":
		return modeWrite, true
	case "rw":
		return modeRead | modeWrite, true
	}
	return 0, false
}

// access is what each role may do with a field.
type access struct{ self, admin mode }

func (a access) of(r Role) mode {
	switch r {
	case Self:
		return a.self
	case Admin:
		return a.admin
	}
	return 0
}

func (a access) readableBySomeone() bool { return (a.self|a.admin)&modeRead != 0 }

// field is a node of the field tree: the root, or a property reached from it
// through "properties".
type field struct {
	pointer       string // in the traits
	schemaPointer string // in the schema document
	access        access
	children      map[string]*field
	// open is set on object fields that accept undeclared properties, which
	// take the object's access.
	open bool
}

// walker reads the annotations of a decoded schema document.
type walker struct {
	root           *field
	claims         map[string]string // field pointer -> claim
	claimFields    map[string]string // claim -> field pointer
	saml           map[string]string
	samlFields     map[string]string
	unique         []UniqueField
	search         []string // pointers of the fields marked "search": true
	authenticators []string
	refs           map[string]string // reference -> first schema pointer using it
	dynamicAnchors []string          // schema pointers of subschemas with "$dynamicAnchor"
}

func newWalker() *walker {
	return &walker{
		claims:         map[string]string{},
		claimFields:    map[string]string{},
		saml:           map[string]string{},
		samlFields:     map[string]string{},
		authenticators: []string{},
		refs:           map[string]string{},
	}
}

func (w *walker) walkRoot(doc map[string]any) error {
	w.root = &field{}
	if err := w.walk(doc, "", w.root, access{}, 0); err != nil {
		return err
	}
	if err := checkReaders(w.root); err != nil {
		return err
	}
	slices.SortFunc(w.unique, func(a, b UniqueField) int { return strings.Compare(a.Pointer, b.Pointer) })
	slices.Sort(w.search)
	return nil
}

// walk visits the subschema v at schema pointer sp. f is the field v defines,
// or nil where v is not a field (inside "$defs", "items", "allOf" …).
func (w *walker) walk(v any, sp string, f *field, inherited access, depth int) error {
	if depth > maxSchemaDepth {
		return failure.InvalidArgument(sp, "the schema nests deeper than %d levels", maxSchemaDepth)
	}
	if f != nil {
		f.access = inherited
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if err := w.checkKeywords(obj, sp); err != nil {
		return err
	}
	if _, ok := obj["$dynamicAnchor"].(string); ok {
		w.dynamicAnchors = append(w.dynamicAnchors, sp)
	}
	if f == nil {
		for _, kw := range annotationKeywords {
			if _, ok := obj[kw]; ok {
				return failure.InvalidArgument(sp+"/"+escapeToken(kw), "%q is only allowed on the schema root and on schemas reached from it through \"properties\"", kw)
			}
		}
	} else if err := w.annotations(obj, sp, f); err != nil {
		return err
	}

	for _, kw := range schemaMapKeywords {
		m, _ := obj[kw].(map[string]any)
		for _, name := range sortedKeys(m) {
			if err := w.walk(m[name], sp+"/"+kw+"/"+escapeToken(name), nil, access{}, depth+1); err != nil {
				return err
			}
		}
	}
	for _, kw := range schemaKeywords {
		switch sub := obj[kw].(type) {
		case map[string]any:
			if err := w.walk(sub, sp+"/"+kw, nil, access{}, depth+1); err != nil {
				return err
			}
		case []any: // draft-7 style "items"; the meta-schema rejects it later
			for i, s := range sub {
				if err := w.walk(s, fmt.Sprintf("%s/%s/%d", sp, kw, i), nil, access{}, depth+1); err != nil {
					return err
				}
			}
		}
	}
	for _, kw := range schemaArrayKeywords {
		arr, _ := obj[kw].([]any)
		for i, s := range arr {
			if err := w.walk(s, fmt.Sprintf("%s/%s/%d", sp, kw, i), nil, access{}, depth+1); err != nil {
				return err
			}
		}
	}

	props, _ := obj["properties"].(map[string]any)
	if f != nil && len(props) > 0 {
		f.children = make(map[string]*field, len(props))
		patterns, _ := obj["patternProperties"].(map[string]any)
		additional, hasAdditional := obj["additionalProperties"]
		closed := additional == false || (!hasAdditional && obj["unevaluatedProperties"] == false)
		f.open = !closed || len(patterns) > 0
	}
	for _, name := range sortedKeys(props) {
		childSP := sp + "/properties/" + escapeToken(name)
		var child *field
		if f != nil {
			child = &field{pointer: f.pointer + "/" + escapeToken(name), schemaPointer: childSP}
			f.children[name] = child
		}
		if err := w.walk(props[name], childSP, child, f.accessOrZero(), depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (f *field) accessOrZero() access {
	if f == nil {
		return access{}
	}
	return f.access
}

// checkKeywords enforces the draft and the same-document rule on one
// subschema.
func (w *walker) checkKeywords(obj map[string]any, sp string) error {
	if v, ok := obj["$schema"]; ok {
		s, _ := v.(string)
		if !slices.Contains(draft202012, s) {
			return failure.InvalidArgument(sp+"/$schema", "user schemas are JSON Schema draft 2020-12 (%q)", draft202012[0])
		}
	}
	for _, kw := range referenceKeywords {
		v, ok := obj[kw]
		if !ok {
			continue
		}
		s, _ := v.(string)
		if !strings.HasPrefix(s, "#") {
			return failure.InvalidArgument(sp+"/"+escapeToken(kw), "only references into the same document (starting with \"#\") are allowed; remote and file references are never loaded")
		}
		if _, seen := w.refs[s]; !seen {
			w.refs[s] = sp + "/" + escapeToken(kw)
		}
	}
	if v, ok := obj["format"]; ok {
		if s, _ := v.(string); !knownFormats[s] {
			return failure.InvalidArgument(sp+"/format", "unknown format %q", s)
		}
	}
	return nil
}

// annotations reads the annotations of field f, whose schema is obj.
func (w *walker) annotations(obj map[string]any, sp string, f *field) error {
	if v, ok := obj[kwPermission]; ok {
		a, err := parsePermission(v, sp+"/"+kwPermission)
		if err != nil {
			return err
		}
		f.access = a
	}
	isRoot := f == w.root
	if isRoot {
		for _, kw := range []string{kwOIDCClaim, kwSAMLAttribute, kwUnique, kwSearch} {
			if _, ok := obj[kw]; ok {
				return failure.InvalidArgument("/"+kw, "%q belongs on a field, not on the schema root", kw)
			}
		}
		if v, ok := obj[kwAuthenticators]; ok {
			names, err := parseAuthenticators(v)
			if err != nil {
				return err
			}
			w.authenticators = names
		}
		return nil
	}
	if _, ok := obj[kwAuthenticators]; ok {
		return failure.InvalidArgument(sp+"/"+kwAuthenticators, "%q is only allowed on the schema root", kwAuthenticators)
	}
	if v, ok := obj[kwOIDCClaim]; ok {
		claim, err := annotationName(v, sp+"/"+kwOIDCClaim)
		if err != nil {
			return err
		}
		if reservedClaims[claim] || strings.HasPrefix(claim, reservedClaimPrefix) {
			return failure.InvalidArgument(sp+"/"+kwOIDCClaim, "the claim %q is issued by Castellan and cannot come from a trait", claim)
		}
		if other, dup := w.claimFields[claim]; dup {
			return failure.InvalidArgument(sp+"/"+kwOIDCClaim, "the claim %q is already fed by %q", claim, other)
		}
		w.claimFields[claim] = f.pointer
		w.claims[f.pointer] = claim
	}
	if v, ok := obj[kwSAMLAttribute]; ok {
		attr, err := annotationName(v, sp+"/"+kwSAMLAttribute)
		if err != nil {
			return err
		}
		if other, dup := w.samlFields[attr]; dup {
			return failure.InvalidArgument(sp+"/"+kwSAMLAttribute, "the SAML attribute %q is already fed by %q", attr, other)
		}
		w.samlFields[attr] = f.pointer
		w.saml[f.pointer] = attr
	}
	if v, ok := obj[kwUnique]; ok {
		scope, _ := v.(string)
		if scope != string(UniqueOrg) && scope != string(UniqueInstance) {
			return failure.InvalidArgument(sp+"/"+kwUnique, "\"unique\" is \"org\" or \"instance\"")
		}
		switch t, _ := obj["type"].(string); t {
		case "string", "number", "integer":
		default:
			return failure.InvalidArgument(sp+"/"+kwUnique, "only fields of \"type\" \"string\", \"number\" or \"integer\" can be unique")
		}
		w.unique = append(w.unique, UniqueField{Pointer: f.pointer, Scope: UniqueScope(scope)})
	}
	if v, ok := obj[kwSearch]; ok {
		on, isBool := v.(bool)
		if !isBool {
			return failure.InvalidArgument(sp+"/"+kwSearch, "\"search\" is true or false")
		}
		switch t, _ := obj["type"].(string); t {
		case "string", "number", "integer", "boolean":
		default:
			if on {
				return failure.InvalidArgument(sp+"/"+kwSearch, "only fields of \"type\" \"string\", \"number\", \"integer\" or \"boolean\" can be searched")
			}
		}
		if on {
			if len(w.search) == MaxSearchFields {
				return failure.InvalidArgument(sp+"/"+kwSearch, "a user schema marks at most %d fields \"search\"", MaxSearchFields)
			}
			w.search = append(w.search, f.pointer)
		}
	}
	return nil
}

func parsePermission(v any, sp string) (access, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return access{}, failure.InvalidArgument(sp, "\"permission\" is an object such as {\"self\": \"r\", \"admin\": \"rw\"}")
	}
	var a access
	for _, role := range sortedKeys(obj) {
		s, _ := obj[role].(string)
		m, ok := parseMode(s)
		if !ok {
			return access{}, failure.InvalidArgument(sp+"/"+escapeToken(role), "a permission is \"\", \"r\", \"w\" or \"rw\"")
		}
		switch role {
		case "self":
			a.self = m
		case "admin":
			a.admin = m
		default:
			return access{}, failure.InvalidArgument(sp+"/"+escapeToken(role), "unknown role %q; the roles are \"self\" and \"admin\"", role)
		}
	}
	return a, nil
}

func parseAuthenticators(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, failure.InvalidArgument("/"+kwAuthenticators, "\"authenticators\" is an array of names")
	}
	names := make([]string, 0, len(arr))
	for i, e := range arr {
		name, _ := e.(string)
		sp := fmt.Sprintf("/%s/%d", kwAuthenticators, i)
		if !slices.Contains(knownAuthenticators, name) {
			return nil, failure.InvalidArgument(sp, "unknown authenticator %q; known are %s", name, strings.Join(knownAuthenticators, ", "))
		}
		if slices.Contains(names, name) {
			return nil, failure.InvalidArgument(sp, "authenticator %q is listed twice", name)
		}
		names = append(names, name)
	}
	return names, nil
}

// annotationName checks the value of "oidcClaim" or "samlAttribute".
func annotationName(v any, sp string) (string, error) {
	s, _ := v.(string)
	if s == "" || len(s) > maxAnnotationNameLen || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return "", failure.InvalidArgument(sp, "a claim or attribute name is a non-empty string of at most %d printable characters without spaces", maxAnnotationNameLen)
	}
	return s, nil
}

// checkReaders rejects fields nobody can read, in document order.
func checkReaders(f *field) error {
	if len(f.children) == 0 {
		if !f.access.readableBySomeone() {
			return failure.InvalidArgument(f.schemaPointer, "%s can be read by neither self nor admin; give it or an ancestor a \"permission\" with \"r\"", describeField(f.pointer))
		}
		return nil
	}
	if f.open && !f.access.readableBySomeone() {
		return failure.InvalidArgument(f.schemaPointer, "undeclared properties of %s could be read by neither self nor admin; set \"additionalProperties\": false or give it a \"permission\" with \"r\"", describeField(f.pointer))
	}
	for _, name := range sortedKeys(f.children) {
		if err := checkReaders(f.children[name]); err != nil {
			return err
		}
	}
	return nil
}

func describeField(pointer string) string {
	if pointer == "" {
		return "the root object"
	}
	return fmt.Sprintf("field %q", pointer)
}
