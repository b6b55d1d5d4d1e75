package userschema

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/castellan-iam/castellan/internal/failure"
)

// MaxTraitsSize bounds the traits of one user.
const MaxTraitsSize = 256 << 10

// MaxTraitsDepth bounds how deeply traits nest objects and arrays when they
// are written; the traits object itself is level 1. Clients decode traits as
// a google.protobuf.Struct, three messages deep per object level, and many
// protobuf runtimes stop at 100 nested messages.
const MaxTraitsDepth = 16

// Violation is one way in which traits break their schema.
type Violation struct {
	Pointer string // JSON pointer into the traits; "" is the whole document
	Message string // for the caller; never repeats the value
}

// ValidationError lists every violation, sorted by pointer. It unwraps to a
// *failure.Error of kind InvalidArgument.
type ValidationError struct {
	Violations []Violation
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = displayPointer(v.Pointer) + ": " + v.Message
	}
	return "invalid traits: " + strings.Join(parts, "; ")
}

// Unwrap returns the failure the API maps to 400 Bad Request. Its Field is the
// first violation's pointer.
func (e *ValidationError) Unwrap() error {
	field := ""
	if len(e.Violations) > 0 {
		field = e.Violations[0].Pointer
	}
	parts := make([]string, len(e.Violations))
	violations := make([]failure.Violation, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = displayPointer(v.Pointer) + ": " + v.Message
		violations[i] = failure.Violation{Field: v.Pointer, Message: v.Message}
	}
	fe := failure.InvalidArgument(field, "the traits do not match the user schema: %s", strings.Join(parts, "; "))
	fe.Violations = violations
	return fe
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func displayPointer(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// Validate checks traits, a JSON object, against the schema and returns nil
// or a *ValidationError with every violation. Traits above MaxTraitsSize,
// deeper than MaxTraitsDepth, with a number out of bounds, or with so many
// values that validating them could take more than MaxValidationCost schema
// checks are refused before the validator sees them. Every write of traits
// passes here.
func (s *Schema) Validate(traits []byte) error {
	v, err := decodeTraits(traits)
	if err != nil {
		if len(traits) <= MaxTraitsSize && nestingExceeds(traits, MaxTraitsDepth) {
			// Too deep for the JSON decoder, which stops at 10,000 levels.
			return traitsViolation("traits nest objects and arrays at most %d levels deep", MaxTraitsDepth)
		}
		return traitsViolation("%v", err)
	}
	st := scanValues(v)
	if st.depth > MaxTraitsDepth {
		return traitsViolation("traits nest objects and arrays at most %d levels deep", MaxTraitsDepth)
	}
	if !st.numbersInBounds {
		e := &ValidationError{}
		for _, p := range numbersOutOfBounds(v, "", nil) {
			e.Violations = append(e.Violations, Violation{Pointer: p, Message: numberMessage})
		}
		slices.SortFunc(e.Violations, func(a, b Violation) int { return strings.Compare(a.Pointer, b.Pointer) })
		return e
	}
	if s.cost > MaxValidationCost {
		return traitsViolation("the user schema cannot validate traits within the budget of %d schema checks; the user type needs a simpler revision", MaxValidationCost)
	}
	if satMul(st.values, s.cost) > MaxValidationCost {
		return traitsViolation("traits of %d values could take more than %d schema checks to validate (up to %d per value with this schema); send fewer values", st.values, MaxValidationCost, s.cost)
	}
	err = s.validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return failure.Internal(err, "validating traits")
	}
	return &ValidationError{Violations: violationsOf(verr)}
}

// validate runs the validator. Traits come from API callers and the
// validator is third-party code, so a panic in it becomes an error instead
// of taking the server down.
func (s *Schema) validate(v map[string]any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = failure.Internal(fmt.Errorf("panic: %v", p), "the schema validator failed on these traits")
		}
	}()
	return s.validator.Validate(v)
}

// traitsViolation is a violation of the traits document as a whole.
func traitsViolation(format string, args ...any) *ValidationError {
	return &ValidationError{Violations: []Violation{{Pointer: "", Message: fmt.Sprintf(format, args...)}}}
}

// decodeTraits decodes a traits document, which must be a JSON object.
func decodeTraits(traits []byte) (map[string]any, error) {
	if len(traits) > MaxTraitsSize {
		return nil, fmt.Errorf("traits are at most %d bytes", MaxTraitsSize)
	}
	v, err := decodeJSON(traits)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("traits are a JSON object")
	}
	return obj, nil
}

// violationsOf flattens the validator's error tree into its leaves, sorted
// and without duplicates.
func violationsOf(e *jsonschema.ValidationError) []Violation {
	var out []Violation
	collectViolations(e, &out)
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(out)
}

func collectViolations(e *jsonschema.ValidationError, out *[]Violation) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collectViolations(c, out)
		}
		return
	}
	at := pointerOf(e.InstanceLocation)
	add := func(pointer, format string, args ...any) {
		*out = append(*out, Violation{Pointer: pointer, Message: fmt.Sprintf(format, args...)})
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, name := range k.Missing {
			add(at+"/"+escapeToken(name), "is required")
		}
	case *kind.AdditionalProperties:
		for _, name := range k.Properties {
			add(at+"/"+escapeToken(name), "is not allowed by the schema")
		}
	case *kind.FalseSchema:
		add(at, "is not allowed by the schema")
	case *kind.Type:
		add(at, "must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.MinLength:
		add(at, "must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		add(at, "must be at most %d characters long", k.Want)
	case *kind.Pattern:
		add(at, "must match the pattern %s", k.Want)
	case *kind.Format:
		add(at, "must be a valid %s", k.Want)
	case *kind.Const:
		add(at, "must be the constant value of the schema")
	case *kind.Minimum:
		add(at, "must be at least %s", ratString(k.Want))
	case *kind.Maximum:
		add(at, "must be at most %s", ratString(k.Want))
	case *kind.ExclusiveMinimum:
		add(at, "must be greater than %s", ratString(k.Want))
	case *kind.ExclusiveMaximum:
		add(at, "must be less than %s", ratString(k.Want))
	case *kind.MultipleOf:
		add(at, "must be a multiple of %s", ratString(k.Want))
	case *kind.RefCycle:
		add(at, "cannot be validated: references in the schema loop without end")
	case *kind.MinItems:
		add(at, "must have at least %d items", k.Want)
	case *kind.MaxItems:
		add(at, "must have at most %d items", k.Want)
	default:
		// The validator's own message for the rest (enum, uniqueItems …),
		// none of which repeats the value.
		leaf := &jsonschema.ValidationError{ErrorKind: e.ErrorKind}
		add(at, "%s", leaf.BasicOutput().Error.String())
	}
}
