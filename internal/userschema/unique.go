package userschema

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
)

// UniqueValue is the value of a unique field in one user's traits, in a
// canonical form fit for a unique constraint: a string as it is, a number as
// its exact normalized decimal (1, 1.0 and 10e-1 are all "1"; no rounding
// through float64, so distinct large integers never collide).
type UniqueValue struct {
	UniqueField
	Value string
}

// UniqueValues returns the values of the unique fields set in traits, in the
// order of UniqueFields. Absent and null fields are left out. traits should
// already be valid; a unique field holding something other than a string or
// a number is an InvalidArgument error.
func (s *Schema) UniqueValues(traits []byte) ([]UniqueValue, error) {
	if len(s.unique) == 0 {
		return nil, nil
	}
	doc, err := decodeTraits(traits)
	if err != nil {
		return nil, failure.InvalidArgument("traits", "%v", err)
	}
	var out []UniqueValue
	for _, f := range s.unique {
		v, ok := lookupPointer(doc, f.Pointer)
		if !ok || v == nil {
			continue
		}
		var value string
		switch v := v.(type) {
		case string:
			value = v
		case json.Number:
			value = canonicalNumber(v)
		default:
			return nil, failure.InvalidArgument(f.Pointer, "a unique field holds a string or a number")
		}
		out = append(out, UniqueValue{UniqueField: f, Value: value})
	}
	return out, nil
}

// lookupPointer resolves an RFC 6901 pointer made only of object members.
func lookupPointer(doc any, pointer string) (any, bool) {
	v := doc
	for _, tok := range strings.Split(pointer, "/")[1:] {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if v, ok = obj[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

// canonicalNumber writes n as a plain decimal when that stays short, and
// as 0.<digits>e<exponent> otherwise.
func canonicalNumber(n json.Number) string {
	d, ok := parseDecimal(string(n))
	if !ok {
		return string(n)
	}
	if d.digits == "" {
		return "0"
	}
	sign := ""
	if d.negative {
		sign = "-"
	}
	switch {
	case d.exp >= len(d.digits) && d.exp <= 40:
		return sign + d.digits + strings.Repeat("0", d.exp-len(d.digits))
	case d.exp > 0 && d.exp < len(d.digits):
		return sign + d.digits[:d.exp] + "." + d.digits[d.exp:]
	case d.exp <= 0 && d.exp > -20:
		return sign + "0." + strings.Repeat("0", -d.exp) + d.digits
	}
	return sign + "0." + d.digits + "e" + strconv.Itoa(d.exp)
}
