package userschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/castellan-iam/castellan/internal/failure"
)

// MaxDocumentSize bounds a schema document.
const MaxDocumentSize = 512 << 10

// maxDocumentNesting bounds how deeply a schema document nests JSON objects
// and arrays. Subschemas nest at most maxSchemaDepth deep, two JSON levels
// each through "properties"; the rest is room for "enum", "const",
// "default" and "examples" values.
const maxDocumentNesting = 2*maxSchemaDepth + 32

// baseURL names every document inside the validator. It is never fetched: the
// loader refuses all URLs.
const baseURL = "urn:castellan:user-schema"

// Schema is a compiled user schema. It is immutable and safe for concurrent use.
type Schema struct {
	id       string
	revision int
	document []byte

	validator      *jsonschema.Schema
	root           *field
	claims         map[string]string
	samlAttributes map[string]string
	unique         []UniqueField
	search         []string
	authenticators []string

	// cost is the most schema checks one value of traits may take (see
	// schemaCost), or unboundedCost.
	cost uint64
	// limitErr is why Compile refuses the document although it compiles:
	// its cost is above MaxSchemaCost, a limit CompileStored does not apply.
	limitErr error
	// readsAll tells, per Role, whether the role may read every field, so
	// that FilterReadable has nothing to remove.
	readsAll [Admin + 1]bool
}

// UniqueScope is where a unique field's value must be unique.
type UniqueScope string

// The unique scopes.
const (
	UniqueOrg      UniqueScope = "org"
	UniqueInstance UniqueScope = "instance"
)

// UniqueField is a field whose value must be unique within Scope.
type UniqueField struct {
	Pointer string // JSON pointer into the traits
	Scope   UniqueScope
}

// ID is the schema's id as given to Compile.
func (s *Schema) ID() string { return s.id }

// Revision is the schema's revision as given to Compile.
func (s *Schema) Revision() int { return s.revision }

// Claims maps field pointers to the OIDC claims they feed. The map is a copy.
func (s *Schema) Claims() map[string]string { return maps.Clone(s.claims) }

// SAMLAttributes maps field pointers to the SAML attributes they feed. The map
// is a copy.
func (s *Schema) SAMLAttributes() map[string]string { return maps.Clone(s.samlAttributes) }

// UniqueFields lists the unique fields, sorted by pointer.
func (s *Schema) UniqueFields() []UniqueField { return slices.Clone(s.unique) }

// SearchFields returns the pointers of the fields marked "search": true,
// sorted: the traits users can be searched by, which the user directory
// indexes.
func (s *Schema) SearchFields() []string { return slices.Clone(s.search) }

// Searchable reports whether the field at pointer is marked "search": true.
func (s *Schema) Searchable(pointer string) bool { return slices.Contains(s.search, pointer) }

// Authenticators lists the authenticators users of this type may have, in
// document order.
func (s *Schema) Authenticators() []string { return slices.Clone(s.authenticators) }

// Compile compiles a schema document, or returns the cached compilation of
// the same id, revision and document. Errors are *failure.Error of kind
// InvalidArgument whose Field is the JSON pointer of the mistake in the
// document. Compile applies every limit of the package documentation; it is
// what a new document must pass before it is stored.
func Compile(id string, revision int, document []byte) (*Schema, error) {
	if err := checkNewDocument(document); err != nil {
		return nil, err
	}
	s, err := compileCached(defaultCache, id, revision, document)
	if err != nil {
		return nil, err
	}
	if s.limitErr != nil {
		return nil, s.limitErr
	}
	return s, nil
}

// checkNewDocument applies the limits on the JSON of a new document that
// CompileStored does not apply, before anything costly is done with it.
func checkNewDocument(document []byte) error {
	if len(document) > MaxDocumentSize {
		return failure.InvalidArgument("", "a user schema is at most %d bytes", MaxDocumentSize)
	}
	if nestingExceeds(document, maxDocumentNesting) {
		return failure.InvalidArgument("", "a user schema nests JSON objects and arrays at most %d levels deep", maxDocumentNesting)
	}
	doc, err := decodeJSON(document)
	if err != nil {
		return failure.InvalidArgument("", "the schema is not valid JSON: %v", err)
	}
	if bad := numbersOutOfBounds(doc, "", nil); len(bad) > 0 {
		return failure.InvalidArgument(bad[0], "%s", numberMessage)
	}
	return nil
}

// CompileStored compiles a document that Compile accepted when it was
// stored, like Compile but without the limits that were added since (the
// schema cost, the JSON nesting and the numbers of the document): a stored
// revision keeps compiling, so its users stay readable. Validation keeps its
// run-time budget, so a stored schema above the cost limit refuses traits
// instead of validating them without bound.
func CompileStored(id string, revision int, document []byte) (*Schema, error) {
	return compileCached(defaultCache, id, revision, document)
}

func compileCached(c *schemaCache, id string, revision int, document []byte) (*Schema, error) {
	if s := c.get(id, revision, document); s != nil {
		return s, nil
	}
	s, err := build(id, revision, document)
	if err != nil {
		return nil, err
	}
	return c.put(s), nil
}

// compile is Compile without the cache.
func compile(id string, revision int, document []byte) (*Schema, error) {
	if err := checkNewDocument(document); err != nil {
		return nil, err
	}
	s, err := build(id, revision, document)
	if err != nil {
		return nil, err
	}
	if s.limitErr != nil {
		return nil, s.limitErr
	}
	return s, nil
}

// build compiles a document. A limit that only Compile applies is recorded
// in limitErr rather than returned.
func build(id string, revision int, document []byte) (*Schema, error) {
	if id == "" {
		return nil, failure.InvalidArgument("id", "a user schema needs an id")
	}
	if len(document) > MaxDocumentSize {
		return nil, failure.InvalidArgument("", "a user schema is at most %d bytes", MaxDocumentSize)
	}
	doc, err := decodeJSON(document)
	if err != nil {
		return nil, failure.InvalidArgument("", "the schema is not valid JSON: %v", err)
	}
	rootObj, ok := doc.(map[string]any)
	if !ok {
		return nil, failure.InvalidArgument("", "a user schema is a JSON object")
	}
	w := newWalker()
	if err := w.walkRoot(rootObj); err != nil {
		return nil, err
	}

	validator, anchors, err := compileValidator(doc, w.refs, w.dynamicAnchors)
	if err != nil {
		return nil, err
	}
	cost, limitErr := boundCost(validator, anchors)
	return withReadsAll(&Schema{
		id:             id,
		revision:       revision,
		document:       bytes.Clone(document),
		validator:      validator,
		root:           w.root,
		claims:         w.claims,
		samlAttributes: w.saml,
		unique:         w.unique,
		search:         w.search,
		authenticators: w.authenticators,
		cost:           cost,
		limitErr:       limitErr,
	}), nil
}

func withReadsAll(s *Schema) *Schema {
	for _, r := range []Role{Self, Admin} {
		s.readsAll[r] = readsAll(s.root, r)
	}
	return s
}

// boundCost computes the schema's cost up to the run-time budget, which is
// what a stored schema needs, and refuses above MaxSchemaCost, which is what
// a new one must meet. The validator's graph comes from API callers: a panic
// while walking it makes the cost unbounded.
func boundCost(validator *jsonschema.Schema, anchors []*jsonschema.Schema) (cost uint64, err error) {
	defer func() {
		if p := recover(); p != nil {
			cost, err = unboundedCost, failure.Internal(fmt.Errorf("panic: %v", p), "bounding the cost of the schema failed")
		}
	}()
	cost, cerr := schemaCost(validator, anchors, MaxValidationCost)
	if cerr == nil && cost > MaxSchemaCost {
		// Once more with the lower limit, to name where it is exceeded.
		if _, cerr = schemaCost(validator, anchors, MaxSchemaCost); cerr == nil {
			cerr = &costError{"", fmt.Sprintf("checking one value of the traits could take %d schema checks, and a schema may take at most %d", cost, MaxSchemaCost)}
		}
	}
	if cerr != nil {
		return cost, cerr.failure()
	}
	return cost, nil
}

// compileValidator compiles the decoded document with the validator. The
// document comes from API callers and the validator is third-party code, so a
// panic in it becomes an error instead of taking the server down.
// It also returns the compiled subschemas at dynamicAnchors (schema
// pointers), which a "$dynamicRef" may reach.
func compileValidator(doc any, refs map[string]string, dynamicAnchors []string) (validator *jsonschema.Schema, anchors []*jsonschema.Schema, err error) {
	defer func() {
		if p := recover(); p != nil {
			validator, anchors, err = nil, nil, failure.Internal(fmt.Errorf("panic: %v", p), "the schema validator failed on this document")
		}
	}()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refuseLoader{})
	if err := c.AddResource(baseURL, doc); err != nil {
		return nil, nil, failure.Internal(err, "adding the user schema")
	}
	validator, err = c.Compile(baseURL)
	if err != nil {
		return nil, nil, compileError(err, refs)
	}
	for _, sp := range dynamicAnchors {
		s, err := c.Compile(baseURL + "#" + escapeFragment(sp))
		if err != nil {
			return nil, nil, compileError(err, refs)
		}
		anchors = append(anchors, s)
	}
	return validator, anchors, nil
}

// escapeFragment percent-encodes a JSON pointer for a URL fragment
// (RFC 6901 section 6).
func escapeFragment(pointer string) string {
	var sb strings.Builder
	for i := 0; i < len(pointer); i++ {
		b := pointer[i]
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("-._~/", b) >= 0 {
			sb.WriteByte(b)
		} else {
			fmt.Fprintf(&sb, "%%%02X", b)
		}
	}
	return sb.String()
}

// refuseLoader keeps the validator from reading files or the network.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s is outside the schema document; only same-document references are allowed", url)
}

// compileError turns a validator error into an InvalidArgument naming the
// pointer in the schema document where it can be found. refs maps the
// references of the document to where they are written.
func compileError(err error, refs map[string]string) error {
	var meta *jsonschema.SchemaValidationError
	if errors.As(err, &meta) {
		var verr *jsonschema.ValidationError
		if errors.As(meta.Err, &verr) {
			if vs := violationsOf(verr); len(vs) > 0 {
				var msgs []string
				for _, v := range vs {
					if v.Pointer == vs[0].Pointer {
						msgs = append(msgs, v.Message)
					}
				}
				return failure.InvalidArgument(vs[0].Pointer, "not a valid draft 2020-12 schema: %s", strings.Join(msgs, "; "))
			}
		}
	}
	var (
		notFound *jsonschema.JSONPointerNotFoundError
		anchor   *jsonschema.AnchorNotFoundError
		regex    *jsonschema.InvalidRegexError
	)
	switch {
	case errors.As(err, &notFound):
		return danglingReference(notFound.URL, refs)
	case errors.As(err, &anchor):
		return danglingReference(anchor.Reference, refs)
	case errors.As(err, &regex):
		return failure.InvalidArgument(fragmentOf(regex.URL), "invalid regular expression: %v", regex.Err)
	}
	return failure.InvalidArgument("", "invalid schema: %s", strings.ReplaceAll(err.Error(), baseURL, ""))
}

func danglingReference(url string, refs map[string]string) error {
	ref := url
	if i := strings.IndexByte(url, '#'); i >= 0 {
		ref = url[i:]
	}
	return failure.InvalidArgument(refs[ref], "the reference %q points to nothing in this document", ref)
}

func fragmentOf(url string) string {
	if _, frag, ok := strings.Cut(url, "#"); ok && strings.HasPrefix(frag, "/") {
		return frag
	}
	return ""
}

// ClaimValues returns the OIDC claims the traits feed: for each field
// annotated with "oidcClaim" that the traits hold, the claim and the
// field's value.
func (s *Schema) ClaimValues(traits []byte) (map[string]any, error) {
	if len(s.claims) == 0 || len(traits) == 0 {
		return nil, nil
	}
	var doc any
	if err := json.Unmarshal(traits, &doc); err != nil {
		return nil, fmt.Errorf("userschema: traits: %w", err)
	}
	out := map[string]any{}
	for pointer, claim := range s.claims {
		if v, ok := lookupPointer(doc, pointer); ok {
			out[claim] = v
		}
	}
	return out, nil
}
